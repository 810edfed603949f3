"""The cancellation funnel: per UTC day of placement, how far orders got, and where and by whom
those that were cancelled or rejected were stopped.

Built from the Ordering log alone (columns in docs/analyst-tables.md). ``cancellation_funnel``
has a row per day and stage: the orders that reached the stage, and of them those cancelled or
rejected while it was their furthest stage, so a stage's cancellation rate is one division.
``cancellation_funnel_exits`` splits those by outcome and by the role that stopped the order;
``cancellation_funnel_orders`` remembers each order's day and furthest stage.
"""

from __future__ import annotations

from typing import Any

from projections.projector import Apply, Projection
from projections.sql_helpers import add, day_of, remembered, upsert
from projections.views import Run

TABLE = "cancellation_funnel"
EXITS = "cancellation_funnel_exits"
ORDERS = "cancellation_funnel_orders"
TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (day TEXT NOT NULL, stage TEXT NOT NULL,"
    " orders_reached BIGINT NOT NULL DEFAULT 0, orders_cancelled BIGINT NOT NULL DEFAULT 0,"
    " orders_rejected BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (day, stage))",
    f"CREATE TABLE IF NOT EXISTS {EXITS} (day TEXT NOT NULL, stage TEXT NOT NULL,"
    " outcome TEXT NOT NULL, role TEXT NOT NULL, orders BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (day, stage, outcome, role))",
    f"CREATE TABLE IF NOT EXISTS {ORDERS} (order_id TEXT PRIMARY KEY, day TEXT, stage TEXT,"
    " outcome TEXT)",
)


def _order(event: Any) -> dict[str, str]:
    return {"order_id": str(event.originator_id)}


def _placed(run: Run, event: Any) -> None:
    day = day_of(event.timestamp)
    upsert(run, ORDERS, _order(event), day=day, stage="placed")
    add(run, TABLE, {"day": day, "stage": "placed"}, orders_reached=1)


def _reached(stage: str) -> Apply:
    """The order got to ``stage``: counted there, and remembered as its furthest."""

    def apply(run: Run, event: Any) -> None:
        (day,) = remembered(run, ORDERS, _order(event), ("day",))
        upsert(run, ORDERS, _order(event), stage=stage)
        add(run, TABLE, {"day": day, "stage": stage}, orders_reached=1)

    return apply


def _stopped(outcome: str) -> Apply:
    """The order was cancelled or rejected at its furthest stage, by the event's actor."""

    def apply(run: Run, event: Any) -> None:
        day, stage = remembered(run, ORDERS, _order(event), ("day", "stage"))
        upsert(run, ORDERS, _order(event), outcome=outcome)
        add(run, TABLE, {"day": day, "stage": stage}, **{f"orders_{outcome}": 1})
        role = str(event.cause.role)
        add(run, EXITS, {"day": day, "stage": stage, "outcome": outcome, "role": role}, orders=1)

    return apply


CANCELLATION_FUNNEL = Projection(
    name="cancellation_funnel",
    tables=TABLES,
    appliers={
        "Order.Placed": _placed,
        "Order.Paid": _reached("paid"),
        "Order.Accepted": _reached("accepted"),
        "Order.ReadyForPickup": _reached("ready"),
        "Order.PickedUp": _reached("picked_up"),
        "Order.Delivered": _reached("delivered"),
        "Order.Cancelled": _stopped("cancelled"),
        "Order.Rejected": _stopped("rejected"),
    },
)
