"""The analytics answer from the views what the orders' own events say, on SQLite and PostgreSQL.

A varied history is made through the applications (two restaurants, two couriers; orders
delivered and rated, delivered unrated, rejected, cancelled before payment and after
acceptance, one still under way), the projectors are run to the head, and every answer is
compared with the same figure computed here from the orders and deliveries read through the
applications. Event times are the wall clock's, so period bounds are taken around the recorded
times.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from application.runtime import Runtime
from domain.delivery import delivery_id_for
from domain.order import Order, OrderStatus
from domain.restaurant import LineRequest
from domain.values import Cause, Money, Role
from projections.analytics import (
    ORDER_CSV_COLUMNS,
    Analytics,
    CourierStats,
    OrdersSummary,
    RestaurantDay,
    csv_lines,
)
from tests.scenario import HOME, Kitchen, cause, courier_on_shift, gateway_says, open_kitchen
from wiring.bootstrap import Tiffin
from wiring.workers import projector

VIEWS = ("order_summary", "daily_sales", "courier_performance")
DAY = timedelta(days=1)


@dataclass
class History:
    kitchens: list[Kitchen]
    orders: list[Order]  # as they are now


class Orders:
    """Orders taken as far as a test wants, each party doing its part and the saga the rest."""

    def __init__(self, tiffin: Tiffin, saga: Runtime, riders: dict[str, Cause]) -> None:
        self.tiffin, self.saga, self.riders = tiffin, saga, riders
        self.placed: list[Order] = []

    def place(self, kitchen: Kitchen, dosas: int, coffees: int) -> tuple[Order, Cause]:
        customer = cause(Role.CUSTOMER)
        lines = [LineRequest(kitchen.dosa.id, dosas)]
        lines += [LineRequest(kitchen.coffee.id, coffees)] if coffees else []
        order = self.tiffin.ordering.place_order(
            customer_id=customer.actor_id,
            restaurant_id=kitchen.restaurant.id,
            requests=lines,
            delivery_address=HOME,
            payment_vpa="asha@okbank",
            cause=customer,
        ).value
        self.placed.append(order)
        self.saga.run_until_idle()
        return order, customer

    def paid(self, kitchen: Kitchen, dosas: int, coffees: int) -> tuple[Order, Cause]:
        order, customer = self.place(kitchen, dosas, coffees)
        gateway_says(
            self.tiffin, self.tiffin.payments.payment_of_order(order.id), "payment.captured"
        )
        self.saga.run_until_idle()
        return order, customer

    def accepted(
        self, kitchen: Kitchen, dosas: int, coffees: int, prep: int
    ) -> tuple[Order, Cause]:
        order, customer = self.paid(kitchen, dosas, coffees)
        self.tiffin.ordering.accept_order(order.id, prep, kitchen.owner)
        self.saga.run_until_idle()
        return order, customer

    def delivered(
        self, kitchen: Kitchen, dosas: int, coffees: int, prep: int, stars: tuple[int, int] | None
    ) -> None:
        order, customer = self.accepted(kitchen, dosas, coffees, prep)
        delivery = self.tiffin.deliveries.delivery_of_order(order.id)
        rider = self.riders[str(delivery.courier_id)]
        self.tiffin.ordering.mark_ready(order.id, kitchen.owner)
        self.tiffin.deliveries.pick_up(delivery.id, rider)
        self.tiffin.deliveries.deliver(delivery.id, rider)
        self.saga.run_until_idle()
        if stars is not None:
            restaurant_stars, courier_stars = stars
            self.tiffin.ordering.rate_order(
                order.id,
                restaurant_stars=restaurant_stars,
                courier_stars=courier_stars,
                cause=customer,
            )


def make_history(tiffin: Tiffin, saga: Runtime) -> History:
    """Per restaurant: three orders delivered (two rated), one rejected, one cancelled by its
    customer before paying, one cancelled by an admin after acceptance; and one under way.
    Then every view this module reads is brought up to the head of its logs."""
    kitchens = [open_kitchen(tiffin), open_kitchen(tiffin)]
    couriers = [courier_on_shift(tiffin) for _ in range(2)]
    orders = Orders(tiffin, saga, {str(courier.id): rider for courier, rider in couriers})
    for number, kitchen in enumerate(kitchens):
        orders.delivered(kitchen, 1, 0, 10 + number, (5, 4))
        orders.delivered(kitchen, 2, 1, 25, (3 - number, 5))
        orders.delivered(kitchen, 1 + number, 2, 15, None)
        rejected, _ = orders.paid(kitchen, 3, 0)
        tiffin.ordering.reject_order(rejected.id, "out of rice", kitchen.owner)
        unpaid, customer = orders.place(kitchen, 1, 1)
        tiffin.ordering.cancel_order(unpaid.id, "changed my mind", customer)
        fire, _ = orders.accepted(kitchen, 1, 3, 20)
        tiffin.ordering.cancel_order(fire.id, "kitchen fire", cause(Role.ADMIN))
        saga.run_until_idle()
    orders.accepted(kitchens[-1], 2, 2, 30)
    for name in VIEWS:
        while projector(tiffin, tiffin.views(), name).run_once():
            pass
    return History(kitchens, [tiffin.ordering.get_order(o.id) for o in orders.placed])


def event_time(tiffin: Tiffin, order: Order, kind: str) -> datetime:
    [at] = [e.timestamp for e in tiffin.ordering.history(order.id) if type(e).__name__ == kind]
    assert isinstance(at, datetime)
    return at


def mean_money(amounts: list[Money]) -> Money:
    total = Decimal(sum(a.minor for a in amounts))
    return Money(int((total / len(amounts)).quantize(Decimal(1), ROUND_HALF_UP)), "INR")


def expected_summary(tiffin: Tiffin, orders: list[Order]) -> OrdersSummary:
    counts = Counter(str(o.status) for o in orders)
    delivered = [o for o in orders if o.status is OrderStatus.DELIVERED]
    minutes = [
        (event_time(tiffin, o, "Delivered") - o.created_on).total_seconds() / 60 for o in delivered
    ]
    return OrdersSummary(
        orders=len(orders),
        counts_by_status={str(s): counts[str(s)] for s in OrderStatus},
        revenue={"INR": Money(sum(o.total.minor for o in delivered), "INR")} if orders else {},
        average_order_value={"INR": mean_money([o.total for o in delivered])} if delivered else {},
        cancellation_rate=counts["cancelled"] / len(orders) if orders else 0.0,
        rejection_rate=counts["rejected"] / len(orders) if orders else 0.0,
        median_minutes_to_delivery=statistics.median(minutes) if minutes else None,
    )


def assert_summary(found: OrdersSummary, expected: OrdersSummary) -> None:
    assert found.orders == expected.orders
    assert found.counts_by_status == expected.counts_by_status
    assert found.revenue == expected.revenue
    assert found.average_order_value == expected.average_order_value
    assert found.cancellation_rate == pytest.approx(expected.cancellation_rate)
    assert found.rejection_rate == pytest.approx(expected.rejection_rate)
    assert found.median_minutes_to_delivery == pytest.approx(expected.median_minutes_to_delivery)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def mean(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.mean(found) if found else None


def test_the_orders_summary_over_all_orders_a_restaurant_and_periods(
    tiffin: Tiffin, saga: Runtime
) -> None:
    history = make_history(tiffin, saga)
    analytics = Analytics(tiffin.views())
    orders = sorted(history.orders, key=lambda o: o.created_on)
    pivot = orders[len(orders) // 2].created_on
    whole_second = orders[3].created_on.replace(microsecond=0)
    first_day = utc_day(orders[0].created_on)

    assert_summary(analytics.orders_summary(), expected_summary(tiffin, orders))
    for kitchen in history.kitchens:
        restaurant_id = kitchen.restaurant.id
        theirs = [o for o in orders if o.restaurant_id == restaurant_id]
        found = analytics.orders_summary(restaurant_id=restaurant_id)
        assert_summary(found, expected_summary(tiffin, theirs))
    for start, end in [(pivot, None), (None, pivot), (whole_second, pivot), (None, whole_second)]:
        within = [
            o
            for o in orders
            if (start is None or o.created_on >= start) and (end is None or o.created_on < end)
        ]
        found = analytics.orders_summary(start, end)
        assert_summary(found, expected_summary(tiffin, within))
    india = pivot.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert analytics.orders_summary(india).orders == analytics.orders_summary(pivot).orders
    assert analytics.orders_summary(first_day, first_day + 2 * DAY).orders == len(orders)
    assert analytics.orders_summary(end=first_day) == expected_summary(tiffin, [])
    with pytest.raises(ValueError, match="timezone"):
        analytics.orders_summary(pivot.replace(tzinfo=None))


def test_a_restaurants_days(tiffin: Tiffin, saga: Runtime) -> None:
    history = make_history(tiffin, saga)
    analytics = Analytics(tiffin.views())

    for kitchen in history.kitchens:
        theirs = [o for o in history.orders if o.restaurant_id == kitchen.restaurant.id]
        days = sorted({utc_day(o.created_on) for o in theirs})
        expected = []
        for day in days:
            placed = [o for o in theirs if utc_day(o.created_on) == day]
            statuses = Counter(o.status for o in placed)
            delivered = [o for o in placed if o.status is OrderStatus.DELIVERED]
            expected.append(
                RestaurantDay(
                    day=day,
                    orders_placed=len(placed),
                    orders_delivered=len(delivered),
                    orders_cancelled=statuses[OrderStatus.CANCELLED],
                    orders_rejected=statuses[OrderStatus.REJECTED],
                    revenue=Money(sum(o.total.minor for o in delivered), "INR"),
                    average_prep_minutes=mean(o.prep_minutes for o in placed if o.prep_minutes),
                    rating=mean(o.rating.restaurant_stars for o in placed if o.rating),
                )
            )
        restaurant_id = kitchen.restaurant.id

        assert analytics.restaurant_daily(restaurant_id) == expected
        assert analytics.restaurant_daily(restaurant_id, days[0], days[-1] + DAY) == expected
        assert analytics.restaurant_daily(restaurant_id, days[-1] + DAY) == []
        assert analytics.restaurant_daily(restaurant_id, end=days[0]) == []
        first = min(o.created_on for o in theirs)  # past midnight: its day overlaps
        assert analytics.restaurant_daily(restaurant_id, end=first) == expected[:1]


def test_couriers_deliveries_median_minutes_and_rating(tiffin: Tiffin, saga: Runtime) -> None:
    history = make_history(tiffin, saga)
    analytics = Analytics(tiffin.views())
    minutes: dict[str, list[float]] = {}
    stars: dict[str, list[int]] = {}
    days: list[date] = []
    for order in history.orders:
        events = {type(e).__name__: e for e in tiffin.deliveries.history(delivery_id_for(order.id))}
        if "Assigned" not in events:
            continue
        courier_id = events["Assigned"].courier_id
        minutes.setdefault(courier_id, [])
        stars.setdefault(courier_id, [])
        if "Delivered" in events:
            taken = events["Delivered"].timestamp - events["PickedUp"].timestamp
            minutes[courier_id].append(taken.total_seconds() / 60)
            days.append(utc_day(events["Delivered"].timestamp))
        if order.rating is not None:
            stars[courier_id].append(order.rating.courier_stars)
            days.append(utc_day(event_time(tiffin, order, "Rated")))
    expected = [
        CourierStats(
            courier_id=courier_id,
            deliveries=len(minutes[courier_id]),
            median_delivery_minutes=statistics.median(taken) if taken else None,
            rating=mean(stars[courier_id]),
        )
        for courier_id, taken in sorted(minutes.items())
    ]

    found = analytics.couriers()

    assert len(expected) == 2
    assert [c.courier_id for c in found] == [c.courier_id for c in expected]
    for stats, wanted in zip(found, expected, strict=True):
        assert stats.deliveries == wanted.deliveries
        assert stats.median_delivery_minutes == pytest.approx(wanted.median_delivery_minutes)
        assert stats.rating == pytest.approx(wanted.rating)
    assert analytics.couriers(min(days), max(days) + DAY) == found
    assert analytics.couriers(max(days) + DAY) == []


def test_the_order_export_streams_every_row_in_placement_order_as_csv(
    tiffin: Tiffin, saga: Runtime
) -> None:
    history = make_history(tiffin, saga)
    analytics = Analytics(tiffin.views())
    orders = sorted(history.orders, key=lambda o: (o.created_on, str(o.id)))

    rows = list(analytics.order_rows(batch=3))
    lines = list(csv_lines(rows))

    assert [row[0] for row in rows] == [str(o.id) for o in orders]
    assert all(line.endswith("\r\n") for line in lines)
    header, *records = csv.reader(io.StringIO("".join(lines)))
    assert tuple(header) == ORDER_CSV_COLUMNS
    for order, row, record in zip(orders, rows, records, strict=True):
        exported = dict(zip(ORDER_CSV_COLUMNS, row, strict=True))
        written = dict(zip(ORDER_CSV_COLUMNS, record, strict=True))
        assert exported["status"] == written["status"] == str(order.status)
        assert exported["total"] == order.total
        assert written["total"] == f"{order.total.minor // 100}.{order.total.minor % 100:02d}"
        assert exported["placed_at"] == order.created_on
        assert written["placed_at"].endswith("Z")
        assert datetime.fromisoformat(written["placed_at"]) == order.created_on
        assert written["restaurant_id"] == str(order.restaurant_id)
        assert written["prep_minutes"] == (
            "" if order.prep_minutes is None else str(order.prep_minutes)
        )
    start, end = orders[2].created_on, orders[-2].created_on
    window = list(analytics.order_rows(start, end, batch=2))
    assert [row[0] for row in window] == [str(o.id) for o in orders[2:-2]]


def test_csv_lines_quote_what_rfc_4180_says_to() -> None:
    at = datetime(2025, 1, 31, 18, 4, 5, 120000, tzinfo=UTC)
    rows: list[tuple[Any, ...]] = [('say "hi", then\nleave', Money.parse("450"), at, None, 3)]

    lines = list(csv_lines(rows, header=("text", "money", "at", "empty", "count")))

    assert lines == [
        "text,money,at,empty,count\r\n",
        '"say ""hi"", then\nleave",450.00,2025-01-31T18:04:05.120000Z,,3\r\n',
    ]
