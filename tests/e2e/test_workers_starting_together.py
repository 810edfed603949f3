"""Replicas started at the same moment on an empty database all come up: creating the
applications' tables is one process at a time, per schema."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.workers import Workers, worker_environ

REPLICAS = 4


def test_workers_started_together_on_an_empty_schema_all_come_up(
    postgres_url: str, tmp_path: Path
) -> None:
    workers = Workers(worker_environ(postgres_url, tmp_path), tmp_path / "logs")
    started = [workers.start() for _ in range(REPLICAS)]
    try:
        for worker in started:
            workers.wait_running(worker, timeout=60)
    finally:
        workers.stop()

    assert "concurrently" not in workers.log_text()
    assert all(worker.process.returncode == 0 for worker in started)
