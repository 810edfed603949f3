"""``/v1/analytics``: figures from the analyst views (analysts and admins), and the order
summary as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import allow
from api.dependencies import DeliveriesApp, OrderingApp, PersonalData, Reads, Views
from api.problems import ApiProblem
from api.schemas.common import DeliveriesPosition, MoneyOut, OrderingPosition, money_out
from api.times import DATE_OR_TIME, day_of, instant_of
from application.identity import Identity
from domain.values import Money, Role
from projections.analytics import Analytics, csv_lines

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
Analyst = Annotated[Identity, allow(Role.ANALYST)]
FROM = "start, inclusive: a date (UTC day) or an RFC 3339 time"
TO = "end, exclusive: a date (UTC day) or an RFC 3339 time"


class OrdersSummaryOut(BaseModel):
    orders: int
    counts_by_status: dict[str, int]
    revenue: MoneyOut  # totals of the orders delivered (INR unless no INR orders)
    revenue_by_currency: list[MoneyOut]
    average_order_value: MoneyOut | None
    cancellation_rate: float
    rejection_rate: float
    median_minutes_to_delivery: float | None


class RestaurantDayOut(BaseModel):
    day: date
    orders: int
    delivered: int
    cancelled: int
    rejected: int
    revenue: MoneyOut
    average_prep_minutes: float | None
    rating: float | None


class CourierOut(BaseModel):
    courier_id: str
    deliveries: int
    median_delivery_minutes: float | None
    rating: float | None


EARLIEST, LATEST = date(1970, 1, 1), date(9000, 1, 1)  # no order is placed outside
PeriodStart = Annotated[
    str | None, Query(alias="from", max_length=40, description=FROM, json_schema_extra=DATE_OR_TIME)
]
PeriodEnd = Annotated[
    str | None, Query(alias="to", max_length=40, description=TO, json_schema_extra=DATE_OR_TIME)
]


def _moment(value: str | None, name: str) -> date | datetime | None:
    """A period bound: a date (a UTC day) or an RFC 3339 time; one before 1970 or after 8999
    counts as that bound (no order was placed outside it)."""
    if value is None:
        return None
    day = day_of(value)
    if day is not None:
        return min(max(day, EARLIEST), LATEST)
    moment = instant_of(value)
    if moment is None:
        raise ApiProblem(422, f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 time")
    first, last = (datetime.combine(bound, time(), UTC) for bound in (EARLIEST, LATEST))
    return min(max(moment, first), last)


def _day(value: str | None, name: str, *, end: bool = False) -> date | None:
    """A day bound: a time counts by its UTC day; an end time after midnight keeps its day."""
    moment = _moment(value, name)
    if not isinstance(moment, datetime):
        return moment
    utc = moment.astimezone(UTC)
    day = utc.date()
    if end and utc != datetime.combine(day, time(), UTC):
        return day + timedelta(days=1)
    return day


async def analytics_of(reads: Reads, personal: PersonalData) -> Analytics:
    return Analytics(reads, personal)


AnalystViews = Annotated[Analytics, Depends(analytics_of)]


@router.get("/orders/summary", response_model=OrdersSummaryOut)
async def orders_summary(
    caller: Analyst,
    analytics: AnalystViews,
    views: Views,
    ordering: OrderingApp,
    start: PeriodStart = None,
    end: PeriodEnd = None,
    restaurant_id: UUID | None = None,
    min_position: OrderingPosition = None,
) -> Any:
    """Orders placed in the period: counts by status, revenue and average value of those
    delivered, cancellation and rejection rates, median minutes from placed to delivered."""
    since, until = _moment(start, "from"), _moment(end, "to")
    await views.wait("order_summary", ordering, min_position)
    summary = await run_in_threadpool(analytics.orders_summary, since, until, restaurant_id)
    currency = "INR" if "INR" in summary.revenue or not summary.revenue else min(summary.revenue)
    average = summary.average_order_value.get(currency)
    return {
        "orders": summary.orders,
        "counts_by_status": summary.counts_by_status,
        "revenue": money_out(summary.revenue.get(currency, Money.zero(currency))),
        "revenue_by_currency": [money_out(m) for _, m in sorted(summary.revenue.items())],
        "average_order_value": money_out(average) if average else None,
        "cancellation_rate": summary.cancellation_rate,
        "rejection_rate": summary.rejection_rate,
        "median_minutes_to_delivery": summary.median_minutes_to_delivery,
    }


@router.get("/restaurants/{restaurant_id}/daily", response_model=list[RestaurantDayOut])
async def restaurant_daily(
    restaurant_id: UUID,
    caller: Analyst,
    analytics: AnalystViews,
    views: Views,
    ordering: OrderingApp,
    start: PeriodStart = None,
    end: PeriodEnd = None,
    min_position: OrderingPosition = None,
) -> Any:
    """Per UTC day of placement: orders, what became of them, revenue, prep minutes, rating."""
    since, until = _day(start, "from"), _day(end, "to", end=True)
    await views.wait("daily_sales", ordering, min_position)
    days = await run_in_threadpool(analytics.restaurant_daily, restaurant_id, since, until)
    return [
        {
            "day": day.day,
            "orders": day.orders_placed,
            "delivered": day.orders_delivered,
            "cancelled": day.orders_cancelled,
            "rejected": day.orders_rejected,
            "revenue": money_out(day.revenue),
            "average_prep_minutes": day.average_prep_minutes,
            "rating": day.rating,
        }
        for day in days
    ]


@router.get("/couriers", response_model=list[CourierOut])
async def couriers(
    caller: Analyst,
    analytics: AnalystViews,
    views: Views,
    deliveries: DeliveriesApp,
    start: PeriodStart = None,
    end: PeriodEnd = None,
    min_position: DeliveriesPosition = None,
) -> Any:
    """Per courier: deliveries handed over, median minutes from pickup, mean stars."""
    since, until = _day(start, "from"), _day(end, "to", end=True)
    await views.wait("courier_performance", deliveries, min_position)
    found = await run_in_threadpool(analytics.couriers, since, until)
    return [
        {
            "courier_id": c.courier_id,
            "deliveries": c.deliveries,
            "median_delivery_minutes": c.median_delivery_minutes,
            "rating": c.rating,
        }
        for c in found
    ]


@router.get(
    "/orders.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def orders_csv(
    caller: Analyst,
    analytics: AnalystViews,
    views: Views,
    ordering: OrderingApp,
    start: PeriodStart = None,
    end: PeriodEnd = None,
    min_position: OrderingPosition = None,
) -> StreamingResponse:
    """The order summary view of the orders placed in the period, as CSV (streamed)."""
    since, until = _moment(start, "from"), _moment(end, "to")
    await views.wait("order_summary", ordering, min_position)
    lines = csv_lines(analytics.order_rows(since, until))
    headers = {"Content-Disposition": 'attachment; filename="orders.csv"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)
