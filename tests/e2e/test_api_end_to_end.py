"""The HTTP API end to end: `tiffin serve` in a process of its own, called over real sockets
on HTTP/1.1, HTTP/2 and HTTP/3; on the embedded default, and in server mode (PostgreSQL, Redis
and a `tiffin worker` process). One server per mode serves the module; every test has users of
its own."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from domain.values import Role
from tests.api_checks import Reply
from tests.api_flows import Lifecycle
from tests.api_h2 import bare_h2
from tests.api_live import Followed, follow_an_order
from tests.api_parties import register_restaurant
from tests.api_process import ApiServer, api_server, process_environ, server_environ
from tests.api_shutdown import HeldCertificates, request_across_sigterm
from tests.api_transports import HTTP_VERSIONS, Transport
from tests.e2e.test_cli import TIFFIN
from tests.fakes.firebase_certs import serving
from tests.postgres import fresh_schema
from tests.redis_server import REDIS_URL, scratch_prefix

MODES = ("embedded", "server")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
SERVER_MODE = ("TIFFIN_DATABASE_URL", "TIFFIN_REDIS_URL", "TIFFIN_REDIS_PREFIX")
LIFE = [
    "awaiting_payment",
    "pending_acceptance",
    "accepted",
    "ready_for_pickup",
    "picked_up",
    "delivered",
]


@pytest.fixture(scope="module", params=MODES)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    data_dir = tmp_path_factory.mktemp(f"api-{request.param}")
    # The live-updates test pings twice in quick succession (the default allows 1 a second).
    pings = {"TIFFIN_RATE_LIMIT_LOCATION_PINGS_PER_SECOND": "50"}
    if request.param == "embedded":
        with api_server(server_environ(data_dir, **pings)) as server:
            yield server
        return
    database_url: str = request.getfixturevalue("database_url")
    with fresh_schema(database_url) as schema_url, scratch_prefix() as prefix:
        environ = server_environ(
            data_dir,
            TIFFIN_DATABASE_URL=schema_url,
            TIFFIN_REDIS_URL=REDIS_URL,
            TIFFIN_REDIS_PREFIX=prefix,
            **pings,
        )
        with api_server(environ, workers=1) as server:
            yield server


@pytest.fixture(autouse=True)
def server_logs(api: ApiServer) -> Iterator[None]:
    """Prints what the server logged during the test (pytest shows it when the test fails)."""
    before = api.log_sizes()
    yield
    print(api.logs(since=before))


def lifecycle(api: ApiServer, transport: Transport) -> Lifecycle:
    return Lifecycle(transport.send, api.token, api.sign, api.settings.delivery_fee)


@pytest.mark.parametrize("version", HTTP_VERSIONS)
def test_an_order_is_placed_paid_cooked_delivered_and_rated(api: ApiServer, version: str) -> None:
    async def scenario() -> set[str]:
        async with Transport(version, api) as transport:
            await lifecycle(api, transport).play()
        return transport.versions

    assert asyncio.run(scenario()) == {version}


@pytest.mark.parametrize("version", HTTP_VERSIONS)
def test_every_answer_carries_the_request_id_and_the_security_headers(
    api: ApiServer, version: str
) -> None:
    given = f"test-{uuid4().hex}"
    token = api.token(f"customer-{uuid4().hex[:12]}", Role.CUSTOMER)

    async def scenario() -> tuple[list[Reply], list[Reply]]:
        async with Transport(version, api) as transport:
            named = [
                await transport.send(method, path, bearer, headers={"X-Request-ID": given})
                for method, path, bearer in (
                    ("GET", "/healthz", None),
                    ("GET", "/v1/restaurants", token),
                    ("GET", "/v1/no-such-thing", token),
                    ("GET", "/v1/orders", None),
                )
            ]
            unnamed = [
                await transport.send("GET", "/healthz", None),
                await transport.send("GET", "/healthz", None, headers={"X-Request-ID": "a b"}),
            ]
        return named, unnamed

    named, unnamed = asyncio.run(scenario())

    assert [reply.status for reply in named] == [200, 200, 404, 401]
    missing = named[2]
    assert missing.headers["content-type"] == "application/problem+json"
    assert (missing.body["status"], missing.body["title"]) == (404, "Not found")
    for reply in named + unnamed:
        assert {name: reply.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
        assert reply.headers["strict-transport-security"].startswith("max-age=")
        if version != "HTTP/3":
            assert f'h3=":{api.port}"' in reply.headers["alt-svc"]
    assert {reply.headers["x-request-id"] for reply in named} == {given}
    made_up = [reply.headers["x-request-id"] for reply in unnamed]
    assert "a b" not in made_up
    assert len(set(made_up)) == 2
    assert all(made_up)


def test_an_http2_connection_outlives_a_post_whose_empty_body_ends_after_the_answer(
    api: ApiServer,
) -> None:
    # httpx sends a POST without a body as HEADERS (content-length: 0), then an empty DATA
    # frame ending the stream; a route that reads no body may answer before that frame comes.
    token = api.token(f"restaurant-{uuid4().hex[:12]}", Role.RESTAURANT)
    with bare_h2(api) as connection:
        ready = connection.request("POST", f"/v1/orders/{uuid4()}/ready", token, end_stream=False)
        health = connection.request("GET", "/healthz", None, end_stream=True)

    assert ready == 404
    assert health == 200, "the server dropped the HTTP/2 connection (see its log: KeyError)"


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/3"])
def test_live_updates_follow_the_order_and_its_courier(api: ApiServer, version: str) -> None:
    async def scenario() -> Followed:
        async with Transport(version, api) as transport:
            return await follow_an_order(lifecycle(api, transport), transport)

    seen = asyncio.run(scenario())

    first = seen.events[0]
    assert (first.kind, first.data) == (
        "status",
        {"order_id": seen.flow.order_id, "status": "awaiting_payment"},
    )
    # A status may come twice in a row (awaiting_payment: once read as the stream opens, once
    # more as the order tracking view takes the placement in): only the changes count here.
    changes = [
        status for i, status in enumerate(seen.statuses) if seen.statuses[i - 1 : i] != [status]
    ]
    assert changes == LIFE, f"status events: {seen.statuses}"
    places = [seen.flow.kitchen, seen.on_the_way]  # pinged before the assignment, then after
    for event in seen.locations:
        assert event.data["courier_id"] == seen.flow.courier_id
        assert {"lat": event.data["lat"], "lng": event.data["lng"]} in places
    last = seen.locations[-1].data
    assert {"lat": last["lat"], "lng": last["lng"]} == seen.on_the_way


def test_a_request_in_flight_when_sigterm_arrives_is_answered_in_full(
    api: ApiServer, tmp_path: Path
) -> None:
    # A server of its own, as it is stopped (in server mode on the module's database and Redis).
    # The request is held while the server fetches Firebase's certificates; once let go, it asks
    # for a position past the log's head, which is answered (409) as any other time.
    shared = {name: api.environ[name] for name in SERVER_MODE if name in api.environ}
    certs = HeldCertificates()
    with serving(certs):
        firebase = {
            "TIFFIN_FIREBASE_PROJECT_ID": certs.project_id,
            "TIFFIN_FIREBASE_CERTS_URL": certs.url,
        }
        with api_server(server_environ(tmp_path / "var", **firebase, **shared)) as server:
            path = f"/v1/orders?min_position={10**12}"
            response = asyncio.run(request_across_sigterm(server, certs, path))
            exit_code = server.terminate()

    assert (response.status_code, exit_code) == (409, 0), server.logs()
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 409
    assert "beyond the head of the Ordering log" in response.json()["detail"]
    assert response.headers["x-request-id"]
    assert server.stdout_lines()[-1] == "tiffin serve: stopped"


def test_tiffin_call_prints_the_answer_and_exits_1_on_an_error_status(api: ApiServer) -> None:
    assert TIFFIN is not None, "the tiffin console script is not installed"
    cuisine = f"test-{uuid4().hex[:12]}"
    restaurant_id, position = register_restaurant(api, cuisine)
    token = api.token(f"customer-{uuid4().hex[:12]}", Role.CUSTOMER)
    environ = process_environ(
        {name: api.environ[name] for name in ("TIFFIN_DATA_DIR", "TIFFIN_PORT")}
    )
    path = f"/v1/restaurants?cuisine={cuisine}&min_position={position}"
    calls = [
        subprocess.Popen(
            [TIFFIN, "call", "GET", call_path, "--token", call_token],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for call_path, call_token in ((path, token), ("/v1/restaurants", "not-a-token"))
    ]
    (listed, listed_log), (refused, refused_log) = [call.communicate(timeout=60) for call in calls]

    assert calls[0].returncode == 0, listed_log
    assert [item["id"] for item in json.loads(listed)["items"]] == [restaurant_id]
    assert "HTTP/3 200" in listed_log
    assert calls[1].returncode == 1, refused_log
    assert json.loads(refused)["status"] == 401
    assert "HTTP/3 401" in refused_log


def test_serve_first_prints_its_url_its_certificate_and_how_to_get_a_token(api: ApiServer) -> None:
    lines = api.stdout_lines()
    url = f"https://127.0.0.1:{api.port}"
    assert lines[0].startswith(f"tiffin serve: {url} "), lines
    mode = "embedded default" if api.settings.embedded else "server mode"
    assert mode in lines[1], lines
    [certificate] = [Path(line.split(": ", 1)[1]) for line in lines if "TLS certificate" in line]
    [command] = [re.search(r"tiffin token [^\"]+", line) for line in lines if "a token:" in line]
    assert certificate == api.cert, lines
    assert command is not None, lines

    # What it printed works: the command makes a token, the certificate verifies the URL.
    minted = subprocess.run(
        [TIFFIN or "tiffin", *shlex.split(command.group())[1:]],
        env=process_environ(api.environ), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert minted.returncode == 0, minted.stderr
    trust = ssl.create_default_context(cafile=str(certificate))
    with httpx.Client(verify=trust) as client:
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        assert client.get(f"{url}/v1/restaurants", headers=headers).status_code == 200
