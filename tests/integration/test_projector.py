"""Projectors keep SQL views from the notification logs: every event once, none skipped, a
poison event parked while the rest go on, and the order summary equal to the aggregates."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sql import create_tables
from application.runtime import Runtime
from domain.order import OrderStatus
from domain.restaurant import LineRequest
from domain.values import Role
from projections.projector import Projection, Projector
from projections.sql_views import TRACKING_TABLES, SqlViews
from projections.views import Run
from tests.scenario import (
    HOME,
    cause,
    courier_on_shift,
    delivered_and_cancelled,
    open_kitchen,
)
from wiring.bootstrap import Tiffin
from wiring.workers import projector

SHIFTS = 10_000
POISON_VERSION = 4_321


def shift_counter(poison_version: int | None) -> Projection:
    """Counts shift changes per courier; the change at ``poison_version`` cannot be applied."""

    def count(run: Run, event: Any) -> None:
        if event.originator_version == poison_version:
            raise ValueError(f"cannot apply version {poison_version}")
        run(
            "INSERT INTO test_shift_counts (courier_id, changes, last_version) VALUES (?, 1, ?)"
            " ON CONFLICT (courier_id) DO UPDATE SET changes = test_shift_counts.changes + 1,"
            " last_version = excluded.last_version",
            (str(event.originator_id), event.originator_version),
        )

    return Projection(
        name="test_shift_counts",
        tables=(
            "CREATE TABLE IF NOT EXISTS test_shift_counts (courier_id TEXT PRIMARY KEY,"
            " changes BIGINT NOT NULL, last_version BIGINT NOT NULL)",
        ),
        appliers={"Courier.ShiftStarted": count, "Courier.ShiftEnded": count},
    )


def counted(tiffin: Tiffin) -> list[tuple[Any, ...]]:
    with tiffin.views().transaction() as run:
        return [
            tuple(row) for row in run("SELECT changes, last_version FROM test_shift_counts", ())
        ]


@pytest.fixture
def a_busy_courier(tiffin: Tiffin) -> None:
    """One courier whose shift starts and ends ``SHIFTS`` times (saved in one go)."""
    courier, rider = courier_on_shift(tiffin)  # version 2: registered, shift started
    courier = tiffin.deliveries.get_courier(courier.id)
    for _ in range(SHIFTS // 2):
        courier.end_shift(rider)
        courier.start_shift(rider)
    tiffin.deliveries.commit(courier)


@pytest.mark.usefixtures("a_busy_courier")
def test_a_poison_event_is_parked_and_the_others_applied(tiffin: Tiffin) -> None:
    projection = shift_counter(POISON_VERSION)
    create_tables(tiffin.views(), [*TRACKING_TABLES, *projection.tables], "test")
    projector = Projector(projection, [tiffin.deliveries], SqlViews(tiffin.views(), projection))

    applied = projector.run_once()

    events = SHIFTS + 1  # and the first shift start
    assert applied == events
    assert counted(tiffin) == [(events - 1, SHIFTS + 2)]
    [parked] = projector.parked()
    assert parked.leader == "Deliveries"
    assert parked.error == f"ValueError: cannot apply version {POISON_VERSION}"
    assert projector.run_once() == 0, "the projector goes on from after its last event"

    projector.projection = shift_counter(None)  # the bug is fixed
    assert projector.retry_parked() == 1
    assert counted(tiffin)[0][0] == events
    assert projector.parked() == []


@pytest.mark.usefixtures("a_busy_courier")
def test_applying_the_events_again_changes_nothing(tiffin: Tiffin) -> None:
    projection = shift_counter(None)
    create_tables(tiffin.views(), [*TRACKING_TABLES, *projection.tables], "test")
    views = SqlViews(tiffin.views(), projection)
    first, second = (Projector(projection, [tiffin.deliveries], views) for _ in "ab")

    first.run_once()
    assert second.run_once() == 0, "the position is shared: nothing is applied twice"

    assert counted(tiffin) == [(SHIFTS + 1, SHIFTS + 2)]


def test_projectors_taking_turns_see_each_others_positions(tiffin: Tiffin) -> None:
    """A pass remembers the positions it moved, never past its end: the next pass of any
    projector (a standby taking over, a reader waiting for its write) reads them again."""
    projection = shift_counter(None)
    create_tables(tiffin.views(), [*TRACKING_TABLES, *projection.tables], "test")
    views = SqlViews(tiffin.views(), projection)
    first, second = (Projector(projection, [tiffin.deliveries], views) for _ in "ab")
    courier, rider = courier_on_shift(tiffin)  # one shift change
    shifts = 1
    for turn, (runs, waits) in enumerate([(first, second), (second, first)] * 3):
        courier = tiffin.deliveries.get_courier(courier.id)
        for _ in range(turn + 1):
            courier.end_shift(rider)
            courier.start_shift(rider)
        head = tiffin.deliveries.commit(courier)
        assert head is not None
        shifts += 2 * (turn + 1)

        assert not waits.has_reached(tiffin.deliveries, head)
        assert runs.run_once() == 2 * (turn + 1) + (1 if turn == 0 else 0)
        assert waits.has_reached(tiffin.deliveries, head)
        assert waits.run_once() == 0

    assert counted(tiffin)[0][0] == shifts


def summary(tiffin: Tiffin, order_id: Any) -> dict[str, Any]:
    with tiffin.views().transaction() as run:
        cursor = run(
            "SELECT status, courier_id, total_minor, payment_status, delivery_status,"
            " closing_reason, paid_at IS NOT NULL AS paid FROM order_summary WHERE order_id = ?",
            (str(order_id),),
        )
        names = [column[0] for column in cursor.description]
        [row] = cursor.fetchall()
    return dict(zip(names, row, strict=True))


def test_the_order_summary_follows_each_order_its_payment_and_its_delivery(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    courier, rider = courier_on_shift(tiffin)
    delivered, cancelled = delivered_and_cancelled(tiffin, saga, kitchen, rider)

    for order in (delivered, cancelled):
        row = summary(tiffin, order.id)
        now = tiffin.ordering.get_order(order.id)
        assert row["status"] == now.status
        assert row["courier_id"] == now.courier_id
        assert row["total_minor"] == now.total.minor
        assert row["payment_status"] == tiffin.payments.payment_of_order(order.id).status
        reason = row["closing_reason"]  # sealed in the view (projections.personal)
        assert (reason and tiffin.personal.unseal(reason)) == now.closing_reason
        assert row["paid"]
    assert summary(tiffin, delivered.id)["status"] == OrderStatus.DELIVERED
    assert summary(tiffin, delivered.id)["delivery_status"] == "delivered"
    assert summary(tiffin, delivered.id)["courier_id"] == str(courier.id)
    assert summary(tiffin, cancelled.id)["payment_status"] == "refund_pending"
    assert summary(tiffin, cancelled.id)["delivery_status"] is None


def test_a_reader_can_wait_until_the_view_includes_its_own_write(
    tiffin: Tiffin, saga: Runtime
) -> None:
    summary_projector = projector(tiffin, tiffin.views(), "order_summary")
    kitchen = open_kitchen(tiffin)
    placed = tiffin.ordering.place_order(
        customer_id="asha",
        restaurant_id=kitchen.restaurant.id,
        requests=[LineRequest(kitchen.dosa.id, 1)],
        delivery_address=HOME,
        payment_vpa="asha@okbank",
        cause=cause(Role.CUSTOMER, "asha"),
    )
    assert placed.position is not None
    assert not summary_projector.wait_until(tiffin.ordering, placed.position, timeout=0.05)

    saga.start()  # the workers run in their own thread, as on the embedded default
    try:
        assert summary_projector.wait_until(tiffin.ordering, placed.position, timeout=30)
    finally:
        saga.stop()

    assert summary(tiffin, placed.value.id)["status"] == "awaiting_payment"
    assert summary_projector.has_reached(tiffin.ordering, placed.position)
