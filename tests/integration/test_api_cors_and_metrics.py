"""Browsers from the configured origins may call the API; the metrics count requests per route
template and carry the projections' positions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.values import Role
from tests.api_server import ApiServer, api_server, api_settings
from tests.polling import Seen, poll_until

APP_ORIGIN = "https://app.tiffin.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    data_dir: Path = tmp_path_factory.mktemp("cors")
    with api_server(api_settings(data_dir, CORS_ORIGINS=APP_ORIGIN)) as running:
        yield running


def test_a_preflight_from_a_configured_origin_is_allowed(server: ApiServer) -> None:
    with server.client() as client:
        response = client.options(
            "/v1/orders",
            headers={
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, idempotency-key",
            },
        )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()
    assert response.headers["x-content-type-options"] == "nosniff"


def test_other_origins_get_no_cors_headers(server: ApiServer) -> None:
    with server.client() as client:
        response = client.get(
            "/v1/restaurants",
            headers={**server.auth(Role.CUSTOMER), "Origin": "https://elsewhere.example"},
        )

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_metrics_count_requests_by_route_template_and_report_projection_positions(
    server: ApiServer,
) -> None:
    with server.client() as client:
        for _ in range(3):
            client.get(
                "/v1/restaurants/00000000-0000-0000-0000-000000000000",
                headers=server.auth(Role.CUSTOMER),
            )
        text = client.get("/metrics").text

    counted = (
        'tiffin_http_requests_total{method="GET",route="/v1/restaurants/{restaurant_id}",'
        'status="404"} 3.0'
    )
    assert counted in text
    assert (
        'tiffin_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/restaurants/{restaurant_id}"}'
        in text
    )
    assert 'tiffin_projection_position{log="Ordering",projection="order_summary"}' in text


def test_metrics_show_the_state_of_each_worker_component(server: ApiServer) -> None:
    """The embedded default runs every component in the server's process, which reports them."""
    with server.client() as client:

        def health_shown(seen: Seen) -> str | None:
            seen.last = client.get("/metrics").text
            return seen.last if "tiffin_component_state{" in seen.last else None

        text = poll_until(health_shown, within=10.0, what="the components' health in /metrics")

    running = [
        line
        for line in text.splitlines()
        if line.startswith('tiffin_component_state{component="outbox"')
        and 'state="running"' in line
    ]
    assert len(running) == 1, text
    assert running[0].endswith(" 1.0"), running
    assert 'tiffin_component_failures{component="outbox"' in text
