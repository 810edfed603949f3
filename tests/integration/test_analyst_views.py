"""The analyst and catalogue views answer the questions they are for, on SQLite and PostgreSQL.

Each test acts through the applications, lets the saga and the projectors catch up, and asks
its question in SQL as an analyst would (the queries of docs/analyst-tables.md), or through the
catalogue's reader; expectations come from what the test did or from the aggregates' events.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.errors import NotFound
from application.history import order_history
from application.runtime import Runtime
from domain.delivery import delivery_id_for
from domain.errors import (
    InvalidQuantity,
    MenuItemUnavailable,
    RestaurantOffline,
    UnknownMenuItem,
)
from domain.order import Order
from domain.payment import payment_id_for
from domain.restaurant import LineRequest
from domain.values import Cause, Location, Money, Role
from projections.catalogue import Catalogue
from tests.scenario import (
    HOME,
    NEAR_KITCHEN,
    Kitchen,
    cause,
    courier_on_shift,
    open_kitchen,
    paid_order,
    place,
)
from wiring.bootstrap import Tiffin
from wiring.workers import projector

STAGES = ("placed", "paid", "accepted", "ready", "picked_up", "delivered")
MEDIAN = (  # portable (SQLite and PostgreSQL); PostgreSQL alone has percentile_cont
    "SELECT AVG(minutes) FROM (SELECT minutes, ROW_NUMBER() OVER (ORDER BY minutes) AS n,"
    " COUNT(*) OVER () AS total FROM courier_performance_deliveries"
    " WHERE courier_id = ? AND day BETWEEN ? AND ? AND minutes IS NOT NULL) ranked"
    " WHERE n IN ((total + 1) / 2, (total + 2) / 2)"
)


def caught_up(tiffin: Tiffin, saga: Runtime, *views: str) -> None:
    saga.run_until_idle()
    for name in views:
        projector(tiffin, tiffin.views(), name).run_once()


def query(tiffin: Tiffin, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with tiffin.views().transaction() as run:
        return [tuple(row) for row in run(sql, params).fetchall()]


def day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def days_of(tiffin: Tiffin, *orders: Order) -> tuple[str, str]:
    """The first and last UTC day these orders were placed on (a test may straddle midnight)."""
    placed = sorted(day(tiffin.ordering.get_order(o.id).created_on) for o in orders)
    return placed[0], placed[-1]


def accepted_order(
    tiffin: Tiffin, saga: Runtime, kitchen: Kitchen, customer: Cause, prep_minutes: int = 10
) -> Order:
    order = paid_order(tiffin, saga, kitchen, customer)
    tiffin.ordering.accept_order(order.id, prep_minutes, kitchen.owner)
    saga.run_until_idle()
    return order


def delivered_order(
    tiffin: Tiffin,
    saga: Runtime,
    kitchen: Kitchen,
    rider: Cause,
    prep_minutes: int = 10,
    stars: tuple[int, int] | None = None,
) -> Order:
    """An order that went all the way (rated with these restaurant and courier stars)."""
    customer = cause(Role.CUSTOMER)
    order = accepted_order(tiffin, saga, kitchen, customer, prep_minutes)
    delivery = tiffin.deliveries.delivery_of_order(order.id)
    tiffin.deliveries.pick_up(delivery.id, rider)
    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()
    if stars is not None:
        restaurant, courier = stars
        tiffin.ordering.rate_order(
            order.id, restaurant_stars=restaurant, courier_stars=courier, cause=customer
        )
    return tiffin.ordering.get_order(order.id)


def test_a_restaurants_revenue_for_a_day_counts_only_its_delivered_orders(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    prep_minutes, (restaurant_stars, courier_stars) = 12, (4, 5)
    delivered = delivered_order(
        tiffin, saga, kitchen, rider, prep_minutes, (restaurant_stars, courier_stars)
    )
    rejected = paid_order(tiffin, saga, kitchen, cause(Role.CUSTOMER))
    tiffin.ordering.reject_order(rejected.id, "out of rice", kitchen.owner)
    customer = cause(Role.CUSTOMER)
    cancelled = place(tiffin, kitchen, customer)
    tiffin.ordering.cancel_order(cancelled.id, "ordered twice", customer)
    caught_up(tiffin, saga, "daily_sales")

    [row] = query(
        tiffin,
        "SELECT SUM(orders_placed), SUM(orders_delivered), SUM(orders_cancelled),"
        " SUM(orders_rejected), SUM(revenue_minor), MIN(currency),"
        " SUM(prep_minutes_sum) * 1.0 / SUM(prep_minutes_count),"
        " SUM(restaurant_stars_sum) * 1.0 / SUM(restaurant_stars_count)"
        " FROM daily_sales WHERE restaurant_id = ? AND day BETWEEN ? AND ?",
        str(kitchen.restaurant.id),
        *days_of(tiffin, delivered, rejected, cancelled),
    )

    total = delivered.total
    assert row == (3, 1, 1, 1, total.minor, total.currency, prep_minutes, restaurant_stars)


def test_a_couriers_median_and_mean_delivery_minutes_and_rating(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    courier, rider = courier_on_shift(tiffin)
    given_stars = (5, 3, 4)
    orders = [
        delivered_order(tiffin, saga, kitchen, rider, stars=(5, stars)) for stars in given_stars
    ]
    caught_up(tiffin, saga, "courier_performance")

    minutes = []
    for order in orders:
        events = {type(e).__name__: e for e in tiffin.deliveries.history(delivery_id_for(order.id))}
        taken = events["Delivered"].timestamp - events["PickedUp"].timestamp
        minutes.append(taken.total_seconds() / 60)
    first, last = days_of(tiffin, *orders)[0], day(datetime.now(UTC))  # delivered by now
    [(median,)] = query(tiffin, MEDIAN, str(courier.id), first, last)
    [(delivered, mean, rating)] = query(
        tiffin,
        "SELECT SUM(deliveries_delivered),"
        " SUM(delivery_microseconds_sum) / 60e6 / SUM(deliveries_delivered),"
        " SUM(courier_stars_sum) * 1.0 / SUM(courier_stars_count)"
        " FROM courier_performance WHERE courier_id = ? AND day BETWEEN ? AND ?",
        str(courier.id),
        first,
        last,
    )

    assert delivered == len(orders)
    assert median == pytest.approx(statistics.median(minutes))
    assert float(mean) == pytest.approx(statistics.mean(minutes))  # PostgreSQL: numeric
    assert float(rating) == pytest.approx(statistics.mean(given_stars))  # PostgreSQL: numeric


def test_cancellation_and_rejection_rates_per_stage(tiffin: Tiffin, saga: Runtime) -> None:
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    customer = cause(Role.CUSTOMER)
    unpaid = place(tiffin, kitchen, customer)
    tiffin.ordering.cancel_order(unpaid.id, "changed my mind", customer)
    rejected = paid_order(tiffin, saga, kitchen, cause(Role.CUSTOMER))
    tiffin.ordering.reject_order(rejected.id, "out of rice", kitchen.owner)
    admin = cause(Role.ADMIN)
    by_admin = accepted_order(tiffin, saga, kitchen, cause(Role.CUSTOMER))
    tiffin.ordering.cancel_order(by_admin.id, "kitchen fire", admin)
    delivered = delivered_order(tiffin, saga, kitchen, rider)
    caught_up(tiffin, saga, "cancellation_funnel")
    furthest = [(unpaid, "placed"), (rejected, "paid"), (by_admin, "accepted")]
    furthest.append((delivered, "delivered"))
    first, last = days_of(tiffin, *(order for order, _ in furthest))

    funnel = query(
        tiffin,
        "SELECT stage, SUM(orders_reached), SUM(orders_cancelled) * 1.0 / SUM(orders_reached),"
        " SUM(orders_rejected) * 1.0 / SUM(orders_reached)"
        " FROM cancellation_funnel WHERE day BETWEEN ? AND ? GROUP BY stage",
        first,
        last,
    )
    exits = query(
        tiffin,
        "SELECT stage, outcome, role, SUM(orders) FROM cancellation_funnel_exits"
        " WHERE day BETWEEN ? AND ? GROUP BY stage, outcome, role",
        first,
        last,
    )

    reached = {
        stage: sum(STAGES.index(end) >= STAGES.index(stage) for _, end in furthest)
        for stage in STAGES
    }
    cancelled_at = {"placed": 1, "accepted": 1}  # the customer's and the admin's
    rejected_at = {"paid": 1}
    assert {stage: (n, round(float(c), 9), round(float(r), 9)) for stage, n, c, r in funnel} == {
        stage: (
            reached[stage],
            round(cancelled_at.get(stage, 0) / reached[stage], 9),
            round(rejected_at.get(stage, 0) / reached[stage], 9),
        )
        for stage in STAGES
    }
    assert sorted(exits) == [
        ("accepted", "cancelled", "admin", 1),
        ("paid", "rejected", "restaurant", 1),
        ("placed", "cancelled", "customer", 1),
    ]


def test_the_catalogue_follows_the_restaurant_offline_and_its_menu_changing(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    restaurant_id, owner = kitchen.restaurant.id, kitchen.owner
    catalogue = Catalogue(tiffin.views())
    caught_up(tiffin, saga, "catalogue")

    assert [r.id for r in catalogue.restaurants(online=True, cuisine="South Indian")] == [
        restaurant_id
    ]
    assert catalogue.restaurants(cuisine="punjabi") == []
    assert [r.id for r in catalogue.restaurants(near=NEAR_KITCHEN, radius_km=1)] == [restaurant_id]
    assert catalogue.restaurants(near=Location(19.07, 72.87), radius_km=50) == []

    tiffin.restaurants.change_menu_item(
        restaurant_id, kitchen.coffee.id, available=False, price=Money.parse("50.00"), cause=owner
    )
    tiffin.restaurants.remove_menu_item(restaurant_id, kitchen.dosa.id, owner)
    tiffin.restaurants.set_online(restaurant_id, False, owner)
    caught_up(tiffin, saga, "catalogue")

    assert catalogue.restaurants(online=True) == []
    page = catalogue.restaurant(restaurant_id)
    assert page is not None
    assert not page.online
    [coffee] = page.menu
    assert (coffee.id, coffee.available, coffee.price) == (
        kitchen.coffee.id,
        False,
        Money.parse("50.00"),
    )
    now = tiffin.restaurants.get_restaurant(restaurant_id)
    assert (page.name, page.cuisine, page.address, page.location, page.owner_id) == (
        now.name,
        now.cuisine,
        now.address,
        now.location,
        tiffin.personal.pseudonym(now.owner_id),  # the view keeps no person's id
    )
    assert catalogue.restaurant(uuid4()) is None


def test_the_catalogue_names_every_problem_of_an_order_the_domain_would_refuse(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    restaurant_id, dosa, coffee = kitchen.restaurant.id, kitchen.dosa.id, kitchen.coffee.id
    tiffin.restaurants.change_menu_item(restaurant_id, coffee, available=False, cause=kitchen.owner)
    catalogue = Catalogue(tiffin.views())
    caught_up(tiffin, saga, "catalogue")
    unknown = uuid4()

    def place_order(restaurant: UUID, lines: list[tuple[UUID, int]]) -> object:
        customer = cause(Role.CUSTOMER)
        return tiffin.ordering.place_order(
            customer_id=customer.actor_id,
            restaurant_id=restaurant,
            requests=[LineRequest(item, quantity) for item, quantity in lines],
            delivery_address=HOME,
            payment_vpa="asha@okbank",
            cause=customer,
        )

    everything_wrong = [(dosa, 0), (dosa, 51), (unknown, 1), (coffee, 1)]
    assert [p.loc for p in catalogue.order_problems(restaurant_id, everything_wrong)] == [
        ("items", 0, "quantity"),
        ("items", 1, "quantity"),
        ("items", 2, "menu_item_id"),
        ("items", 3, "menu_item_id"),
    ]
    for lines, refusal in (
        ([(dosa, 0)], InvalidQuantity),
        ([(dosa, 51)], InvalidQuantity),
        ([(unknown, 1)], UnknownMenuItem),
        ([(coffee, 1)], MenuItemUnavailable),
    ):
        assert catalogue.order_problems(restaurant_id, lines), lines
        with pytest.raises(refusal):
            place_order(restaurant_id, lines)
    assert catalogue.order_problems(restaurant_id, [(dosa, 1), (dosa, 50)]) == []
    place_order(restaurant_id, [(dosa, 1), (dosa, 50)])

    [problem] = catalogue.order_problems(unknown, [(dosa, 1)])
    assert problem.loc == ("restaurant_id",)
    with pytest.raises(NotFound):
        place_order(unknown, [(dosa, 1)])

    tiffin.restaurants.set_online(restaurant_id, False, kitchen.owner)
    caught_up(tiffin, saga, "catalogue")
    [problem] = catalogue.order_problems(restaurant_id, [(dosa, 1)])
    assert problem.loc == ("restaurant_id",)
    with pytest.raises(RestaurantOffline):
        place_order(restaurant_id, [(dosa, 1)])


def test_the_history_index_lists_the_events_of_the_order_its_payment_and_its_delivery(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    order = delivered_order(tiffin, saga, kitchen, rider, stars=(5, 5))
    other = place(tiffin, kitchen, cause(Role.CUSTOMER))
    caught_up(tiffin, saga, "order_history")

    rows = query(
        tiffin,
        "SELECT stream, version, type, actor_id, actor_role, correlation_id, leader, occurred_at"
        " FROM order_history WHERE order_id = ? ORDER BY occurred_at, stream, version",
        str(order.id),
    )

    history = order_history(tiffin.ordering, tiffin.payments, tiffin.deliveries, order.id)
    assert {row[:6] for row in rows} == {
        (
            str(entry.aggregate_id),
            entry.version,
            f"{entry.stream.capitalize()}.{entry.type}",
            entry.actor_id
            if entry.actor_role == "system"
            else tiffin.personal.pseudonym(entry.actor_id),
            entry.actor_role,
            entry.correlation_id,
        )
        for entry in history
    }
    assert len(rows) == len(history)
    leaders = {row[0]: row[6] for row in rows}
    assert leaders == {
        str(order.id): "Ordering",
        str(payment_id_for(order.id)): "Payments",
        str(delivery_id_for(order.id)): "Deliveries",
    }
    placed = next(row for row in rows if row[2] == "Order.Placed")
    requested = next(row for row in rows if row[2] == "Payment.Requested")
    assert placed[4] == "customer"
    assert requested[4] == "system"
    assert requested[5] == placed[5], "the saga acts in the correlation of the placement"
    assert {row[4] for row in rows} >= {"customer", "restaurant", "courier", "system"}
    others = query(tiffin, "SELECT stream FROM order_history WHERE order_id = ?", str(other.id))
    assert {stream for (stream,) in others} == {str(other.id), str(payment_id_for(other.id))}
