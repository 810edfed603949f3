"""The analysts' questions, answered from the SQL views (columns in docs/analyst-tables.md).

Periods are half-open, ``[start, end)``; ``None`` leaves that side open. Orders count by when
they were placed (``order_summary.placed_at``): a ``datetime`` bound must be aware, a ``date``
means its midnight UTC. Per-day views count the UTC days overlapping the period (a ``date`` is
that day; a ``datetime`` end past midnight keeps its day). Time bounds are passed as the UTC
ISO text SQLite stores times as (``2025-01-31 18:04:05.123456+00:00``; such texts sort as the
times do), which PostgreSQL casts to ``timestamptz``. Medians are taken here (SQLite has no
``percentile_cont``).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from domain.order import OrderStatus
from domain.values import Money
from projections.personal import IN_PLAIN, Personal
from projections.sql_helpers import as_datetime, minutes_between
from projections.views import SqlDatabase

Bound = date | datetime | None
EXPORTED = (  # order_summary's columns, in the export's order
    *("order_id", "customer_id", "restaurant_id", "status", "courier_id", "item_count"),
    *("currency", "subtotal_minor", "delivery_fee_minor", "total_minor", "prep_minutes"),
    *("closing_reason", "payment_status", "refund_minor", "delivery_status"),
    *("restaurant_stars", "courier_stars", "placed_at", "paid_at", "accepted_at", "ready_at"),
    *("picked_up_at", "delivered_at", "cancelled_at", "rejected_at"),
)
ORDER_CSV_COLUMNS = tuple(name.removesuffix("_minor") for name in EXPORTED)  # money: decimals
_PLACED_AT, _CURRENCY = EXPORTED.index("placed_at"), EXPORTED.index("currency")
_STATUSES = "SELECT status, currency, COUNT(*) FROM order_summary WHERE {} GROUP BY 1, 2"
_DELIVERED = (
    "SELECT currency, total_minor, placed_at, delivered_at FROM order_summary"
    " WHERE {} AND status = 'delivered'"
)
_DAILY = (
    "SELECT day, currency, orders_placed, orders_delivered, orders_cancelled, orders_rejected,"
    " revenue_minor, prep_minutes_sum, prep_minutes_count, restaurant_stars_sum,"
    " restaurant_stars_count FROM daily_sales WHERE restaurant_id = ? AND {}"
    " ORDER BY day, currency"
)
_COURIERS = (
    "SELECT courier_id, SUM(deliveries_delivered), SUM(courier_stars_sum),"
    " SUM(courier_stars_count) FROM courier_performance WHERE {} GROUP BY 1 ORDER BY 1"
)
_MINUTES = "SELECT courier_id, minutes FROM courier_performance_deliveries WHERE {}"
_ROWS = f"SELECT {', '.join(EXPORTED)} FROM order_summary WHERE {{}}"  # noqa: S608 (ours)
_ROWS += " ORDER BY placed_at, order_id LIMIT ?"


@dataclass(frozen=True)
class OrdersSummary:
    """Orders placed in a period. ``counts_by_status``: every status (0 if none). ``revenue``,
    per currency of the orders: the totals (lines and delivery fee) of those delivered, summed,
    refunds not deducted (0 if none delivered); ``average_order_value``: revenue over orders
    delivered, rounded half up to a minor unit (currencies with deliveries only). Rates are
    fractions of the orders placed (0 when none); the median runs from placed to delivered."""

    orders: int
    counts_by_status: dict[str, int]
    revenue: dict[str, Money]
    average_order_value: dict[str, Money]
    cancellation_rate: float
    rejection_rate: float
    median_minutes_to_delivery: float | None


@dataclass(frozen=True)
class RestaurantDay:
    """A restaurant's orders placed on one UTC day (in one currency) and what became of them;
    revenue of those delivered; averages None without data."""

    day: date
    orders_placed: int
    orders_delivered: int
    orders_cancelled: int
    orders_rejected: int
    revenue: Money
    average_prep_minutes: float | None
    rating: float | None


@dataclass(frozen=True)
class CourierStats:
    """A courier's deliveries handed over on the period's days, their median minutes from
    pickup to hand-over, and the mean courier stars given on those days (None without data)."""

    courier_id: str
    deliveries: int
    median_delivery_minutes: float | None
    rating: float | None


class Analytics:
    """Reads the analytics views, each answer in one short transaction."""

    def __init__(self, database: SqlDatabase, personal: Personal = IN_PLAIN) -> None:
        self.database = database
        self.personal = personal  # opens the closing reasons the view keeps sealed

    def orders_summary(
        self, start: Bound = None, end: Bound = None, restaurant_id: UUID | None = None
    ) -> OrdersSummary:
        """The orders placed in ``[start, end)`` (of one restaurant, if given)."""
        where, params = _placed_within(start, end)
        if restaurant_id is not None:
            where, params = f"{where} AND restaurant_id = ?", [*params, str(restaurant_id)]
        with self.database.transaction() as run:
            by_status = run(_STATUSES.format(where), params).fetchall()
            delivered = run(_DELIVERED.format(where), params).fetchall()
        counts = dict.fromkeys(map(str, OrderStatus), 0)
        for status, _, count in by_status:
            counts[status] = counts.get(status, 0) + int(count)
        orders = sum(counts.values())
        revenue = {currency: Money.zero(currency) for _, currency, _ in by_status}
        for currency, total, _, _ in delivered:
            revenue[currency] += Money(int(total), currency)
        deliveries = Counter(currency for currency, *_ in delivered)
        minutes = [minutes_between(as_datetime(p), as_datetime(d)) for *_, p, d in delivered]
        return OrdersSummary(
            orders=orders,
            counts_by_status=counts,
            revenue=revenue,
            average_order_value={c: _mean_money(revenue[c], n) for c, n in deliveries.items()},
            cancellation_rate=counts[OrderStatus.CANCELLED] / orders if orders else 0.0,
            rejection_rate=counts[OrderStatus.REJECTED] / orders if orders else 0.0,
            median_minutes_to_delivery=_median(minutes),
        )

    def restaurant_daily(
        self, restaurant_id: UUID, start: date | None = None, end: date | None = None
    ) -> list[RestaurantDay]:
        """The restaurant's days of placement overlapping ``[start, end)``, oldest first."""
        days, params = _days_within(start, end)
        with self.database.transaction() as run:
            rows = run(_DAILY.format(days), [str(restaurant_id), *params]).fetchall()
        return [_restaurant_day(*row) for row in rows]

    def couriers(self, start: date | None = None, end: date | None = None) -> list[CourierStats]:
        """Every courier with a row of ``courier_performance`` on the days overlapping
        ``[start, end)`` (deliveries counted on the day handed over), by id."""
        days, params = _days_within(start, end)
        with self.database.transaction() as run:
            totals = run(_COURIERS.format(days), params).fetchall()
            timed = run(_MINUTES.format(f"{days} AND minutes IS NOT NULL"), params).fetchall()
        minutes: dict[str, list[float]] = {}
        for courier_id, taken in timed:
            minutes.setdefault(courier_id, []).append(float(taken))
        return [
            CourierStats(
                courier_id=courier_id,
                deliveries=int(delivered),
                median_delivery_minutes=_median(minutes.get(courier_id, [])),
                rating=_mean(stars_sum, stars_count),
            )
            for courier_id, delivered, stars_sum, stars_count in totals
        ]

    def order_rows(
        self, start: Bound = None, end: Bound = None, batch: int = 1000
    ) -> Iterator[tuple[Any, ...]]:
        """The ``order_summary`` rows of the orders placed in ``[start, end)``, by placement
        time then id, as ``ORDER_CSV_COLUMNS``: amounts as Money, times as UTC datetimes,
        None where empty. Reads ``batch`` rows per transaction, after the last row's key
        (keyset pagination): an export of any size holds one batch, and no transaction open
        between batches."""
        if batch < 1:
            raise ValueError(f"a batch is at least 1 row, got {batch}")
        placed, params = _placed_within(start, end)
        after: list[Any] = []
        while True:
            where = f"{placed} AND (placed_at, order_id) > (?, ?)" if after else placed
            with self.database.transaction() as run:
                rows = run(_ROWS.format(where), [*params, *after, batch]).fetchall()
            yield from (_exported(row, self.personal) for row in rows)
            if len(rows) < batch:
                return
            after = [rows[-1][_PLACED_AT], rows[-1][0]]  # as stored, so it compares exactly


def _restaurant_day(
    day: str, currency: str, placed: int, delivered: int, cancelled: int, rejected: int,
    revenue: int, prep_sum: int, prep_count: int, stars_sum: int, stars_count: int,
) -> RestaurantDay:  # fmt: skip
    counts = (int(placed), int(delivered), int(cancelled), int(rejected))
    revenue_money = Money(int(revenue), currency)
    prep, rating = _mean(prep_sum, prep_count), _mean(stars_sum, stars_count)
    return RestaurantDay(date.fromisoformat(day), *counts, revenue_money, prep, rating)


def csv_lines(
    rows: Iterable[Sequence[Any]], header: Sequence[str] = ORDER_CSV_COLUMNS
) -> Iterator[str]:
    """RFC 4180 text a line at a time (CRLF-terminated, quoted where needed), the header
    first: Money as its decimal amount (``450.00``), datetimes as RFC 3339 UTC
    (``2025-01-31T18:04:05.123456Z``), None as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for values in (header, *([_text(value) for value in row] for row in rows)):
        writer.writerow(values)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA):
        return "'" + value  # free text (a closing reason) must not run as a formula
    if isinstance(value, Money):
        return value.amount_text
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def _exported(row: Sequence[Any], personal: Personal) -> tuple[Any, ...]:
    def value(name: str, stored: Any) -> Any:
        if stored is not None and name == "closing_reason":
            return personal.unseal(stored)
        if stored is None or not name.endswith(("_minor", "_at")):
            return stored
        if name.endswith("_minor"):
            return Money(int(stored), row[_CURRENCY])
        return as_datetime(stored).astimezone(UTC)

    return tuple(value(name, stored) for name, stored in zip(EXPORTED, row, strict=True))


def _placed_within(start: Bound, end: Bound) -> tuple[str, list[Any]]:
    """The WHERE clause of the orders placed in ``[start, end)``, and its parameters."""
    where, params = ["placed_at IS NOT NULL"], []
    for bound, test in ((start, "placed_at >= ?"), (end, "placed_at < ?")):
        if bound is not None:
            where.append(test)
            params.append(str(_utc(bound)))  # str of a UTC datetime: as SQLite stores it
    return " AND ".join(where), params


def _days_within(start: date | None, end: date | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the rows whose ``day`` overlaps ``[start, end)``, its parameters."""
    where, params = ["day IS NOT NULL"], []
    if start is not None:
        where.append("day >= ?")
        params.append(_utc(start).date().isoformat())
    if end is not None:
        moment = _utc(end)
        last = moment.date() if moment.time() == time() else moment.date() + timedelta(days=1)
        where.append("day < ?")
        params.append(last.isoformat())
    return " AND ".join(where), params


def _utc(bound: date | datetime) -> datetime:
    """A bound as a UTC datetime: a date is its midnight UTC; a datetime must be aware."""
    if not isinstance(bound, datetime):
        return datetime.combine(bound, time(), UTC)
    if bound.utcoffset() is None:
        raise ValueError(f"a time bound needs its timezone, got {bound.isoformat()}")
    return bound.astimezone(UTC)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _mean(total: Any, count: Any) -> float | None:
    return float(total) / float(count) if count else None


def _mean_money(total: Money, count: int) -> Money:
    """The mean of ``count`` amounts adding up to ``total``, rounded half up to a minor unit."""
    mean = (Decimal(total.minor) / count).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Money(int(mean), total.currency)
