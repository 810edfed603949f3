"""The auditors' order history index: one row per event of an order, its payment and its
delivery, with who caused it and in which correlation.

Columns in docs/analyst-tables.md. A row is keyed by its order, stream (the aggregate) and
version, which is unique and ordered within each stream; ``occurred_at`` orders the streams'
events among each other. Rows are only ever inserted, so the three logs may be applied in any
relative order. The events' data stay in the event store (``application/history.py``).
"""

from __future__ import annotations

from typing import Any

from domain.topics import LOG_OF_AGGREGATE
from projections.projector import Apply, Projection
from projections.sql_helpers import upsert
from projections.views import Run

TABLE = "order_history"
TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (order_id TEXT NOT NULL, stream TEXT NOT NULL,"
    " version BIGINT NOT NULL, leader TEXT NOT NULL, type TEXT NOT NULL,"
    " occurred_at TIMESTAMP WITH TIME ZONE NOT NULL, actor_id TEXT NOT NULL,"
    " actor_role TEXT NOT NULL, correlation_id TEXT NOT NULL,"
    " PRIMARY KEY (order_id, stream, version))",
)
EVENTS = {
    "Order": (
        "Placed",
        "Paid",
        "Accepted",
        "Rejected",
        "ReadyForPickup",
        "CourierAssigned",
        "CourierUnassigned",
        "PickedUp",
        "Delivered",
        "Cancelled",
        "Rated",
    ),
    "Payment": ("Requested", "Captured", "Failed", "Expired", "RefundRequested", "Refunded"),
    "Delivery": (
        "Requested",
        "Assigned",
        "Unassigned",
        "PickedUp",
        "Delivered",
        "Cancelled",
        "Recalled",
    ),
}


def _indexing(aggregate: str) -> Apply:
    """Indexes an event of this kind of aggregate under its order: the order's own events are
    its stream, its payment's and its delivery's carry ``order_id``."""
    leader = LOG_OF_AGGREGATE[aggregate]

    def apply(run: Run, event: Any) -> None:
        order_id = event.originator_id if aggregate == "Order" else event.order_id
        cause = event.cause
        key = {
            "order_id": str(order_id),
            "stream": str(event.originator_id),
            "version": event.originator_version,
        }
        upsert(
            run,
            TABLE,
            key,
            leader=leader,
            type=type(event).__qualname__,
            occurred_at=event.timestamp,
            actor_id=cause.actor_id,
            actor_role=str(cause.role),
            correlation_id=cause.correlation_id,
        )

    return apply


ORDER_HISTORY = Projection(
    name="order_history",
    tables=TABLES,
    appliers={
        f"{aggregate}.{name}": _indexing(aggregate)
        for aggregate, names in EVENTS.items()
        for name in names
    },
)
