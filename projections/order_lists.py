"""Order lists from the order summary view: a customer's orders, a courier's deliveries, all
orders for admins; newest first, a page at a time (keyset pagination, so deep pages cost the
same as the first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.order_summary import TABLE
from projections.views import SqlDatabase

COLUMNS = (
    "order_id, status, customer_id, restaurant_id, courier_id, item_count, currency,"
    " total_minor, payment_status, delivery_status, placed_at"
)


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    status: str
    customer_id: str
    restaurant_id: str
    courier_id: str | None
    item_count: int
    currency: str
    total_minor: int
    payment_status: str | None
    delivery_status: str | None
    placed_at: str  # RFC 3339


@dataclass(frozen=True)
class OrderPage:
    rows: list[OrderRow]
    next_after: tuple[datetime, str] | None  # (placed_at, order_id) of the last row


def orders_page(
    database: SqlDatabase,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    customer_ids: Sequence[str] | None = None,
    courier_id: str | None = None,
    status: str | None = None,
) -> OrderPage:
    """Orders placed (newest first) matching the filters, after the ``after`` row if given;
    ``customer_ids`` are what the view may hold for one customer (``personal.lookups``)."""
    where, params = ["placed_at IS NOT NULL"], list[Any]()
    if customer_ids is not None:
        where.append(f"customer_id IN ({', '.join('?' for _ in customer_ids)})")
        params += customer_ids
    if courier_id is not None:
        where.append("courier_id = ?")
        params.append(courier_id)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if after is not None:
        where.append("(placed_at < ? OR (placed_at = ? AND order_id < ?))")
        params += [after[0], after[0], after[1]]
    with database.transaction() as run:
        rows = run(
            f"SELECT {COLUMNS} FROM {TABLE} WHERE {' AND '.join(where)}"  # noqa: S608 (ours)
            " ORDER BY placed_at DESC, order_id DESC LIMIT ?",
            [*params, limit + 1],
        ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    page = [_row(row) for row in rows]
    last = rows[-1] if more else None
    return OrderPage(page, (_moment(last[10]), last[0]) if last else None)


def _moment(value: Any) -> datetime:
    """A stored time as the database driver passes it back in (SQLite's text is its own)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _rfc3339(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.fromisoformat(str(value)).isoformat()


def _row(row: Any) -> OrderRow:
    order_id, status, customer, restaurant, courier, count, currency, total, paid, delivery = row[
        :10
    ]
    return OrderRow(
        order_id=order_id,
        status=status,
        customer_id=customer,
        restaurant_id=restaurant,
        courier_id=courier,
        item_count=int(count or 0),
        currency=currency or "INR",
        total_minor=int(total or 0),
        payment_status=paid,
        delivery_status=delivery,
        placed_at=_rfc3339(row[10]),
    )
