"""Restaurant daily sales: per restaurant and UTC day of placement, what became of its orders.

Built from the Ordering log alone (columns in docs/analyst-tables.md). Every figure of a day is
about the orders placed that day: how many were placed, delivered, cancelled, rejected, the
revenue of those delivered, their preparation minutes and their restaurant stars. Each order's
restaurant, day and total are remembered from its placement (``daily_sales_orders``) for the
events that follow it in the same log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.order import total_of
from projections.projector import Apply, Projection
from projections.sql_helpers import add, day_of, remembered, upsert
from projections.views import Run

TABLE = "daily_sales"
ORDERS = "daily_sales_orders"
COUNTERS = (
    "orders_placed",
    "orders_delivered",
    "orders_cancelled",
    "orders_rejected",
    "revenue_minor",
    "prep_minutes_sum",
    "prep_minutes_count",
    "restaurant_stars_sum",
    "restaurant_stars_count",
)
TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (restaurant_id TEXT NOT NULL, day TEXT NOT NULL,"
    f" currency TEXT NOT NULL, {', '.join(f'{c} BIGINT NOT NULL DEFAULT 0' for c in COUNTERS)},"
    " PRIMARY KEY (restaurant_id, day, currency))",
    f"CREATE TABLE IF NOT EXISTS {ORDERS} (order_id TEXT PRIMARY KEY,"
    " restaurant_id TEXT NOT NULL, day TEXT NOT NULL, currency TEXT NOT NULL,"
    " total_minor BIGINT NOT NULL)",
)
SALES_KEY = ("restaurant_id", "day", "currency")


def _placed(run: Run, event: Any) -> None:
    fee = event.delivery_fee
    day = day_of(event.timestamp)
    sales = {"restaurant_id": str(event.restaurant_id), "day": day, "currency": fee.currency}
    total = total_of(event.lines, fee)
    upsert(run, ORDERS, {"order_id": str(event.originator_id)}, **sales, total_minor=total.minor)
    add(run, TABLE, sales, orders_placed=1)


def _sales_of(run: Run, event: Any) -> tuple[dict[str, Any], int]:
    """The key of the order's sales row, and the order's total, as remembered."""
    *sales, total = remembered(
        run, ORDERS, {"order_id": str(event.originator_id)}, (*SALES_KEY, "total_minor")
    )
    return dict(zip(SALES_KEY, sales, strict=True)), int(total)


def _adding(**amounts: int | Callable[[Any], int]) -> Apply:
    """An applier adding to the counters of the order's sales row: each amount a number, or
    computed from the event."""

    def apply(run: Run, event: Any) -> None:
        sales, _ = _sales_of(run, event)
        added = {name: a(event) if callable(a) else a for name, a in amounts.items()}
        add(run, TABLE, sales, **added)

    return apply


def _delivered(run: Run, event: Any) -> None:
    sales, total = _sales_of(run, event)
    add(run, TABLE, sales, orders_delivered=1, revenue_minor=total)


DAILY_SALES = Projection(
    name="daily_sales",
    tables=TABLES,
    appliers={
        "Order.Placed": _placed,
        "Order.Accepted": _adding(
            prep_minutes_sum=lambda event: event.prep_minutes, prep_minutes_count=1
        ),
        "Order.Delivered": _delivered,
        "Order.Cancelled": _adding(orders_cancelled=1),
        "Order.Rejected": _adding(orders_rejected=1),
        "Order.Rated": _adding(
            restaurant_stars_sum=lambda event: event.rating.restaurant_stars,
            restaurant_stars_count=1,
        ),
    },
)
