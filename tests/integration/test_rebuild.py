"""Rebuilding a view: the live one keeps serving while commands keep arriving, and after the
switch the view equals a fresh replay of the logs; a stale write to a view changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from application.runtime import Runtime
from domain.values import Role
from projections.projector import PositionMoved, Projector
from projections.rebuild import rebuild
from projections.sql_views import SqlViews
from projections.views import SqlDatabase
from tests.scenario import cause, open_kitchen, place
from wiring.bootstrap import Tiffin
from wiring.workers import live_view, open_views, projector

WAIT = 30.0


class Customers:
    """A thread placing and paying orders one after another until stopped."""

    def __init__(self, tiffin: Tiffin) -> None:
        self.tiffin = tiffin
        self.kitchen = open_kitchen(tiffin)
        self.placed = 0
        self._more = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            order = place(self.tiffin, self.kitchen, cause(Role.CUSTOMER))
            if self.placed % 3 == 0:
                self.tiffin.ordering.cancel_order(order.id, "changed my mind", cause(Role.ADMIN))
            with self._more:
                self.placed += 1
                self._more.notify_all()

    def wait_for(self, placed: int) -> None:
        with self._more:
            assert self._more.wait_for(lambda: self.placed >= placed, WAIT), "customers stuck"

    def __enter__(self) -> Customers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def other_connection(tiffin: Tiffin) -> Iterator[SqlDatabase]:
    """The views database through a connection of its own, as a separate process would have."""
    database = open_views(tiffin.settings)
    yield database
    database.close()


def rows(database: SqlDatabase, table: str) -> list[tuple[Any, ...]]:
    with database.transaction() as run:
        return [tuple(r) for r in run(f"SELECT * FROM {table} ORDER BY order_id", ())]


def test_a_rebuild_under_load_switches_to_a_view_equal_to_a_fresh_replay(
    tiffin: Tiffin, saga: Runtime, other_connection: SqlDatabase
) -> None:
    summary = projector(tiffin, tiffin.views(), "order_summary")
    served_during_rebuild: list[int] = []
    with Customers(tiffin) as customers:
        saga.start()  # the live projector (and the saga) keep running throughout
        customers.wait_for(20)

        def while_rebuilding(_done: int, _total: int) -> None:
            if len(served_during_rebuild) < 3:
                customers.wait_for(customers.placed + 1)  # commands arrive during the rebuild
            served_during_rebuild.append(len(rows(tiffin.views(), "order_summary")))

        started_at = customers.placed
        served_before = len(rows(tiffin.views(), "order_summary"))
        rebuilt = rebuild(
            summary.projection,
            summary.leaders,
            live_view(tiffin, other_connection, "order_summary"),
            while_rebuilding,
            tiffin.personal,
        )
        customers.wait_for(customers.placed + 5)
    saga.stop()
    saga.run_until_idle()

    assert customers.placed >= started_at + 3, "commands kept arriving during the rebuild"
    assert served_during_rebuild, "the rebuild reported its progress"
    assert min(served_during_rebuild) >= served_before, "the live view kept serving its rows"
    assert rebuilt.events > 0
    assert rebuilt.parked == 0
    live = rows(tiffin.views(), "order_summary")
    replay = SqlViews(tiffin.views(), summary.projection).shadow()
    Projector(summary.projection, summary.leaders, replay, personal=tiffin.personal).run_once()
    assert live == rows(tiffin.views(), "order_summary__rebuild")
    assert len(live) == customers.placed
    for app in summary.leaders:
        assert summary.has_reached(app, app.recorder.max_notification_id() or 0)


def test_a_stale_or_repeated_write_to_a_view_changes_nothing(tiffin: Tiffin) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    summary = projector(tiffin, tiffin.views(), "order_summary")
    summary.run_once()
    before = rows(tiffin.views(), "order_summary")
    position = summary.position("Ordering")

    def changes(run: Any) -> None:
        run("DELETE FROM order_summary", ())

    for after in (0, position - 1, position + 1):
        with pytest.raises(PositionMoved):
            summary.writer.write("Ordering", after, position + 1, changes)

    assert rows(tiffin.views(), "order_summary") == before
    assert summary.position("Ordering") == position
    assert [row[0] for row in before] == [str(order.id)]
