"""In server mode a worker hears of events committed by another process at once: it does not
wait for its next poll (TIFFIN_WORKER_POLL_SECONDS)."""

from __future__ import annotations

import time
from pathlib import Path

from domain.values import Role
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.scenario import cause, open_kitchen, place
from wiring.bootstrap import bootstrap
from wiring.workers import projector

POLL_SECONDS = 60  # the most allowed: a worker relying on its poll would be that late
WITHIN_SECONDS = 20


def test_a_worker_applies_another_process_commits_without_waiting_for_its_poll(
    postgres_url: str, tmp_path: Path
) -> None:
    environ = worker_environ(
        postgres_url, tmp_path / "var", TIFFIN_WORKER_POLL_SECONDS=str(POLL_SECONDS)
    )
    workers = Workers(environ, tmp_path / "workers", only=["order_summary"])
    with bootstrap(settings_of(environ)) as tiffin:
        kitchen = open_kitchen(tiffin)
        worker = workers.start()
        try:
            workers.wait_running(worker, timeout=WITHIN_SECONDS)
            summary = projector(tiffin, tiffin.views(), "order_summary")
            assert summary.wait_until(tiffin.ordering, 0, timeout=WITHIN_SECONDS)
            placed_at = time.monotonic()
            orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(3)]

            head = tiffin.ordering.recorder.max_notification_id() or 0
            assert summary.wait_until(tiffin.ordering, head, timeout=WITHIN_SECONDS)
            seen_after = time.monotonic() - placed_at
        finally:
            workers.stop()
        with tiffin.views().transaction() as run:
            rows = run("SELECT order_id FROM order_summary", ()).fetchall()

    assert seen_after < WITHIN_SECONDS
    assert {row[0] for row in rows} == {str(order.id) for order in orders}
