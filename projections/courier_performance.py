"""Courier performance: per courier and UTC day, their deliveries and their ratings.

Columns in docs/analyst-tables.md. Each count is on the day of the event it counts. The
delivery counts come from the Deliveries log, which remembers each delivery's courier and
times (``courier_performance_deliveries``, also where a median of delivery minutes is taken);
the stars come from the Ordering log, which remembers each order's courier
(``courier_performance_orders``). Both only add to counters, so the two logs may be applied in
any relative order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from projections.projector import Apply, Projection
from projections.sql_helpers import add, as_datetime, day_of, minutes_between, remembered, upsert
from projections.views import Run

TABLE = "courier_performance"
DELIVERIES = "courier_performance_deliveries"
ORDERS = "courier_performance_orders"
MICROSECOND = timedelta(microseconds=1)
COUNTERS = (
    "deliveries_assigned BIGINT NOT NULL DEFAULT 0",
    "deliveries_picked_up BIGINT NOT NULL DEFAULT 0",
    "deliveries_delivered BIGINT NOT NULL DEFAULT 0",
    "deliveries_unassigned BIGINT NOT NULL DEFAULT 0",
    "deliveries_cancelled BIGINT NOT NULL DEFAULT 0",
    "delivery_microseconds_sum BIGINT NOT NULL DEFAULT 0",
    "courier_stars_sum BIGINT NOT NULL DEFAULT 0",
    "courier_stars_count BIGINT NOT NULL DEFAULT 0",
)
TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (courier_id TEXT NOT NULL, day TEXT NOT NULL,"
    f" {', '.join(COUNTERS)}, PRIMARY KEY (courier_id, day))",
    f"CREATE TABLE IF NOT EXISTS {DELIVERIES} (delivery_id TEXT PRIMARY KEY,"
    " order_id TEXT, courier_id TEXT, picked_up_at TIMESTAMP WITH TIME ZONE,"
    " delivered_at TIMESTAMP WITH TIME ZONE, day TEXT, minutes DOUBLE PRECISION)",
    f"CREATE TABLE IF NOT EXISTS {ORDERS} (order_id TEXT PRIMARY KEY, courier_id TEXT NOT NULL)",
)


def _delivery(event: Any) -> dict[str, str]:
    return {"delivery_id": str(event.originator_id)}


def _count(run: Run, courier_id: str | None, event: Any, **amounts: float) -> None:
    """Adds to the courier's counters of the event's day (nothing without a courier)."""
    if courier_id is not None:
        add(run, TABLE, {"courier_id": courier_id, "day": day_of(event.timestamp)}, **amounts)


def _requested(run: Run, event: Any) -> None:
    upsert(run, DELIVERIES, _delivery(event), order_id=str(event.order_id))


def _assigned(run: Run, event: Any) -> None:
    upsert(run, DELIVERIES, _delivery(event), courier_id=event.courier_id)
    _count(run, event.courier_id, event, deliveries_assigned=1)


def _courier_of(run: Run, event: Any) -> str | None:
    """The courier the delivery has now (none before assignment and after unassignment)."""
    (courier_id,) = remembered(run, DELIVERIES, _delivery(event), ("courier_id",))
    return None if courier_id is None else str(courier_id)


def _counting(counter: str) -> Apply:
    """Counts the event for the delivery's courier."""
    return lambda run, event: _count(run, _courier_of(run, event), event, **{counter: 1})


def _unassigned(run: Run, event: Any) -> None:
    _count(run, _courier_of(run, event), event, deliveries_unassigned=1)
    upsert(run, DELIVERIES, _delivery(event), courier_id=None)


def _picked_up(run: Run, event: Any) -> None:
    _count(run, _courier_of(run, event), event, deliveries_picked_up=1)
    upsert(run, DELIVERIES, _delivery(event), picked_up_at=event.timestamp)


def _delivered(run: Run, event: Any) -> None:
    courier_id, picked_up_at = remembered(
        run, DELIVERIES, _delivery(event), ("courier_id", "picked_up_at")
    )
    taken = event.timestamp - as_datetime(picked_up_at)
    minutes = minutes_between(as_datetime(picked_up_at), event.timestamp)
    _count(
        run,
        courier_id,
        event,
        deliveries_delivered=1,
        delivery_microseconds_sum=taken // MICROSECOND,  # exact: sums of floats are not
    )
    day = day_of(event.timestamp)
    upsert(
        run, DELIVERIES, _delivery(event), delivered_at=event.timestamp, day=day, minutes=minutes
    )


def _order_courier(run: Run, event: Any) -> None:
    upsert(run, ORDERS, {"order_id": str(event.originator_id)}, courier_id=event.courier_id)


def _rated(run: Run, event: Any) -> None:
    (courier_id,) = remembered(run, ORDERS, {"order_id": str(event.originator_id)}, ("courier_id",))
    _count(
        run, courier_id, event, courier_stars_sum=event.rating.courier_stars, courier_stars_count=1
    )


COURIER_PERFORMANCE = Projection(
    name="courier_performance",
    tables=TABLES,
    appliers={
        "Delivery.Requested": _requested,
        "Delivery.Assigned": _assigned,
        "Delivery.Unassigned": _unassigned,
        "Delivery.PickedUp": _picked_up,
        "Delivery.Delivered": _delivered,
        "Delivery.Cancelled": _counting("deliveries_cancelled"),
        "Delivery.Recalled": _counting("deliveries_cancelled"),
        "Order.CourierAssigned": _order_courier,
        "Order.Rated": _rated,
    },
)
