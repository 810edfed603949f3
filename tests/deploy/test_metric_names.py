"""Every metric the Prometheus rules and the Grafana dashboard query is one the processes
really export, with the labels the queries select on: scraped from a running API (server
mode, Kafka on) and from a running `tiffin worker`'s own metrics port."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.api_server import free_port
from bench.kafka_mock import MockKafka
from domain.values import Role
from tests.api_builders import Api, open_kitchen, place
from tests.api_server import serving
from tests.deploy.manifests import (
    METRIC,
    SELECTOR,
    exported,
    promql_of_dashboard,
    promql_of_rules,
)
from tests.e2e.test_cli import TIFFIN
from tests.e2e.workers import worker_environ
from tests.polling import Seen, poll_until

PROMETHEUS_OWN = {"up"}


@pytest.fixture(scope="module")
def scraped(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[dict[str, set[str]]]:
    """The series (with their label names) of an API's /metrics and a worker's."""
    assert TIFFIN is not None
    data = tmp_path_factory.mktemp("metrics")
    with (
        MockKafka(brokers=1) as kafka,
        serving(
            "server", data, database_url, KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers
        ) as server,
        server.client() as client,
    ):
        api = Api(server, client)
        kitchen = open_kitchen(api)
        place(api, api.user(Role.CUSTOMER), kitchen)
        api.call(None, "GET", "/v1/no-such-route")

        def with_components(seen: Seen) -> str | None:
            seen.last = client.get("/metrics").text
            return seen.last if "tiffin_component_state{" in seen.last else None

        from_api = poll_until(with_components, within=30.0, what="the workers' health reported")
        from_worker = scrape_a_worker(server.settings.database_url or "", data / "worker")
    return exported(from_api + "\n" + from_worker)


def scrape_a_worker(database_url: str, data_dir: Path) -> str:
    port = free_port()
    environ = worker_environ(database_url, data_dir, TIFFIN_WORKER_METRICS_PORT=str(port))
    assert TIFFIN is not None
    worker = subprocess.Popen(
        [TIFFIN, "worker", "--only", "order_summary"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def metrics(seen: Seen) -> str | None:
            assert worker.poll() is None, "the worker exited"
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0)
            except httpx.TransportError as error:
                seen.last = error
                return None
            return answer.text if answer.status_code == 200 else None

        return poll_until(metrics, within=30.0, what="the worker's /metrics", every=0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def recorded() -> set[str]:
    return {name for name in promql_of_rules() if name.startswith("tiffin:")}


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_queried_is_exported_with_the_labels_selected(
    scraped: dict[str, set[str]], source: str
) -> None:
    queries = promql_of_rules() if source == "rules" else promql_of_dashboard()
    missing, unlabelled = [], []
    for name, expr in queries.items():
        for metric in METRIC.findall(expr):
            if metric not in scraped and metric not in recorded() | PROMETHEUS_OWN:
                missing.append(f"{name}: {metric}")
        for metric, selector in SELECTOR.findall(expr):
            labels = {part.split("=")[0].strip(" !~") for part in selector.split(",") if part}
            if metric in scraped and not labels <= scraped[metric]:
                unlabelled.append(f"{name}: {metric} has no {sorted(labels - scraped[metric])}")
    assert not missing, f"metrics no process exports: {missing}"
    assert not unlabelled, f"labels no process sets: {unlabelled}"


def test_the_worker_serves_its_own_counters(scraped: dict[str, set[str]]) -> None:
    assert "tiffin_projection_events_applied_total" in scraped
    assert "process_cpu_seconds_total" in scraped
