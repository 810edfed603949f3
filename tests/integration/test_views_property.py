"""Every view equals a fold of the events, whatever happened and however the logs interleave.

A hypothesis state machine drives the applications: restaurants register, change their menus
and go online and offline; customers order (refusals included), the gateway pays or fails
(signed webhooks), deadlines fire, restaurants accept, reject, cancel and mark ready, admins
cancel, couriers change shifts, pick up, deliver or drop deliveries, customers rate. The saga
runs when the ``process`` rule says so, and projectors catch up at random moments with their
logs in either order, so the views see the logs interleaved in many ways.

At the end every projector catches up, and each table of every registered projection must
equal what a fold written here, in plain Python over each aggregate's story read from the
notification logs, says it holds. The fold shares no code with the appliers.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from application import deadlines
from application.errors import NotFound
from application.runtime import Component, Runtime
from application.settings import load_settings
from domain.errors import DomainError
from domain.order import OrderStatus
from domain.payment import payment_id_for
from domain.restaurant import LineRequest
from domain.values import Cause, Location, Money, Role
from projections.personal import Personal, viewed
from projections.projector import Projector
from projections.registry import EVERY_VIEW, HOT_VIEWS, PROJECTIONS
from tests import hot_view_folds
from tests.conftest import BACKENDS
from tests.postgres import fresh_schema
from tests.redis_server import REDIS_URL, scratch_prefix
from tests.scenario import (
    ADMIN,
    HAPPY_PATH,
    HOME,
    ManualClock,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    place,
)
from wiring.bootstrap import Tiffin, bootstrap
from wiring.workers import leaders_of, live_view, projector

Row = dict[str, Any]
Table = dict[tuple[Any, ...], Row]
SAGA_WORKERS = ("ordering", "payments", "deliveries", "deadlines", "outbox")
REFUSALS = (DomainError, NotFound)
EXAMPLES = {"sqlite": 30, "postgres": 8}  # 10 to 30 s together, by load
CUISINES = ("south indian", "punjabi", "chinese")
MAX_ORDERS = 6
STARS = st.tuples(st.integers(1, 5), st.integers(1, 5))  # restaurant's, courier's

# Each view's primary key, as the analyst documentation gives it.
KEYS = {
    "order_summary": ("order_id",),
    "catalogue_restaurants": ("restaurant_id",),
    "catalogue_menu_items": ("restaurant_id", "item_id"),
    "daily_sales": ("restaurant_id", "day", "currency"),
    "daily_sales_orders": ("order_id",),
    "courier_performance": ("courier_id", "day"),
    "courier_performance_deliveries": ("delivery_id",),
    "courier_performance_orders": ("order_id",),
    "cancellation_funnel": ("day", "stage"),
    "cancellation_funnel_exits": ("day", "stage", "outcome", "role"),
    "cancellation_funnel_orders": ("order_id",),
    "order_history": ("order_id", "stream", "version"),
}


# The fold: what each table holds, from the events alone


def name(event: Any) -> str:
    return type(event).__name__


def aggregate(event: Any) -> str:
    return type(event).__qualname__.split(".")[0]


def day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def stories(events: Iterable[Any], by: Callable[[Any], Any]) -> dict[str, list[Any]]:
    """Events grouped (in log order) by ``by``: an aggregate's story, or an order's."""
    grouped: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        grouped[str(by(e))].append(e)
    return grouped


def originator(e: Any) -> Any:
    return e.originator_id


def of_order(e: Any) -> Any:
    return e.order_id


class Counters:
    """Rows of counters that start at 0 and only grow."""

    def __init__(self, key: tuple[str, ...], counters: tuple[str, ...]) -> None:
        self.key, self.counters = key, counters
        self.rows: Table = {}

    def bump(self, key: tuple[Any, ...], **amounts: float) -> None:
        row = self.rows.setdefault(
            key, {**dict(zip(self.key, key, strict=True)), **dict.fromkeys(self.counters, 0)}
        )
        for column, amount in amounts.items():
            row[column] += amount


def catalogue(events: list[Any]) -> dict[str, Table]:
    restaurants: Table = {}
    items: Table = {}
    for restaurant_id, story in stories(events, originator).items():
        registered, online, menu = story[0], False, {}
        for e in story:
            if name(e) in ("WentOnline", "WentOffline"):
                online = name(e) == "WentOnline"
            elif name(e) in ("MenuItemAdded", "MenuItemChanged"):
                menu[e.item.id] = e.item
            elif name(e) == "MenuItemRemoved":
                del menu[e.item_id]
        restaurants[(restaurant_id,)] = {
            "restaurant_id": restaurant_id,
            "owner_id": registered.owner_id,
            "name": registered.name,
            "cuisine": registered.cuisine,
            "address": registered.address,
            "lat": registered.location.lat,
            "lng": registered.location.lng,
            "opening_hours": registered.opening_hours,
            "online": online,
            "registered_at": registered.timestamp,
            "updated_at": story[-1].timestamp,
        }
        for item in menu.values():
            items[(restaurant_id, str(item.id))] = {
                "restaurant_id": restaurant_id,
                "item_id": str(item.id),
                "name": item.name,
                "description": item.description,
                "category": item.category,
                "price_minor": item.price.minor,
                "currency": item.price.currency,
                "available": item.available,
            }
    return {"catalogue_restaurants": restaurants, "catalogue_menu_items": items}


def total_minor(placed: Any) -> int:
    lines = sum(line.unit_price.minor * line.quantity for line in placed.lines)
    return int(lines + placed.delivery_fee.minor)


ORDER_STATUS = hot_view_folds.ORDER_STATUS
MILESTONE = {
    "Placed": "placed_at",
    "Paid": "paid_at",
    "Accepted": "accepted_at",
    "ReadyForPickup": "ready_at",
    "PickedUp": "picked_up_at",
    "Delivered": "delivered_at",
    "Cancelled": "cancelled_at",
    "Rejected": "rejected_at",
}
PAYMENT_STATUS = hot_view_folds.PAYMENT_STATUS
DELIVERY_STATUS = hot_view_folds.DELIVERY_STATUS


def order_summary(orders: list[Any], payments: list[Any], deliveries: list[Any]) -> Table:
    paid, carried = stories(payments, of_order), stories(deliveries, of_order)
    rows: Table = {}
    for order_id, story in stories(orders, originator).items():
        placed = story[0]
        subtotal = total_minor(placed) - placed.delivery_fee.minor
        row: Row = {
            "order_id": order_id,
            "customer_id": placed.customer_id,
            "restaurant_id": str(placed.restaurant_id),
            "courier_id": None,
            "item_count": sum(line.quantity for line in placed.lines),
            "currency": placed.delivery_fee.currency,
            "subtotal_minor": subtotal,
            "delivery_fee_minor": placed.delivery_fee.minor,
            "total_minor": total_minor(placed),
            "prep_minutes": None,
            "closing_reason": None,
            "refund_minor": None,
            "restaurant_stars": None,
            "courier_stars": None,
            **dict.fromkeys(MILESTONE.values()),
        }
        for e in story:
            row["status"] = ORDER_STATUS.get(name(e), row.get("status"))
            if name(e) in MILESTONE:
                row[MILESTONE[name(e)]] = e.timestamp
            if name(e) in ("CourierAssigned", "CourierUnassigned"):
                row["courier_id"] = getattr(e, "courier_id", None)
            if name(e) == "Accepted":
                row["prep_minutes"] = e.prep_minutes
            if name(e) in ("Rejected", "Cancelled"):
                row["closing_reason"] = e.reason
            if name(e) == "Rated":
                row["restaurant_stars"] = e.rating.restaurant_stars
                row["courier_stars"] = e.rating.courier_stars
        payment, delivery = paid.get(order_id, []), carried.get(order_id, [])
        row["payment_status"] = PAYMENT_STATUS[name(payment[-1])] if payment else None
        row["delivery_status"] = DELIVERY_STATUS[name(delivery[-1])] if delivery else None
        for e in payment:
            if name(e) == "RefundRequested":
                row["refund_minor"] = e.refund.amount.minor
        rows[(order_id,)] = row
    return rows


def daily_sales(orders: list[Any]) -> dict[str, Table]:
    sales = Counters(
        KEYS["daily_sales"],
        (
            "orders_placed",
            "orders_delivered",
            "orders_cancelled",
            "orders_rejected",
            "revenue_minor",
            "prep_minutes_sum",
            "prep_minutes_count",
            "restaurant_stars_sum",
            "restaurant_stars_count",
        ),
    )
    remembered: Table = {}
    for order_id, story in stories(orders, originator).items():
        placed = story[0]
        key = (str(placed.restaurant_id), day(placed.timestamp), placed.delivery_fee.currency)
        remembered[(order_id,)] = {
            "order_id": order_id,
            **dict(zip(KEYS["daily_sales"], key, strict=True)),
            "total_minor": total_minor(placed),
        }
        sales.bump(key, orders_placed=1)
        for e in story:
            if name(e) == "Accepted":
                sales.bump(key, prep_minutes_sum=e.prep_minutes, prep_minutes_count=1)
            elif name(e) == "Delivered":
                sales.bump(key, orders_delivered=1, revenue_minor=total_minor(placed))
            elif name(e) in ("Cancelled", "Rejected"):
                sales.bump(key, **{f"orders_{name(e).lower()}": 1})
            elif name(e) == "Rated":
                stars = e.rating.restaurant_stars
                sales.bump(key, restaurant_stars_sum=stars, restaurant_stars_count=1)
    return {"daily_sales": sales.rows, "daily_sales_orders": remembered}


def courier_performance(orders: list[Any], deliveries: list[Any]) -> dict[str, Table]:
    performance = Counters(
        KEYS["courier_performance"],
        (
            "deliveries_assigned",
            "deliveries_picked_up",
            "deliveries_delivered",
            "deliveries_unassigned",
            "deliveries_cancelled",
            "delivery_microseconds_sum",
            "courier_stars_sum",
            "courier_stars_count",
        ),
    )
    carried: Table = {}
    for delivery_id, story in stories(deliveries, originator).items():
        row: Row = dict.fromkeys(("courier_id", "picked_up_at", "delivered_at", "day", "minutes"))
        row |= {"delivery_id": delivery_id, "order_id": str(story[0].order_id)}
        for e in story:
            courier, on = row["courier_id"], (row["courier_id"], day(e.timestamp))
            if name(e) == "Assigned":
                row["courier_id"] = e.courier_id
                performance.bump((e.courier_id, day(e.timestamp)), deliveries_assigned=1)
            elif name(e) == "Unassigned":
                row["courier_id"] = None
                performance.bump(on, deliveries_unassigned=1)
            elif name(e) == "PickedUp":
                row["picked_up_at"] = e.timestamp
                performance.bump(on, deliveries_picked_up=1)
            elif name(e) == "Delivered":
                minutes = (e.timestamp - row["picked_up_at"]).total_seconds() / 60
                row |= {"delivered_at": e.timestamp, "day": day(e.timestamp), "minutes": minutes}
                taken = e.timestamp - row["picked_up_at"]
                performance.bump(
                    on,
                    deliveries_delivered=1,
                    delivery_microseconds_sum=taken // timedelta(microseconds=1),
                )
            elif name(e) in ("Cancelled", "Recalled") and courier is not None:
                performance.bump(on, deliveries_cancelled=1)
        carried[(delivery_id,)] = row
    couriers: Table = {}
    for order_id, story in stories(orders, originator).items():
        assigned = [e.courier_id for e in story if name(e) == "CourierAssigned"]
        if assigned:
            couriers[(order_id,)] = {"order_id": order_id, "courier_id": assigned[-1]}
        for e in story:
            if name(e) == "Rated":
                stars = e.rating.courier_stars
                on = (assigned[-1], day(e.timestamp))
                performance.bump(on, courier_stars_sum=stars, courier_stars_count=1)
    return {
        "courier_performance": performance.rows,
        "courier_performance_deliveries": carried,
        "courier_performance_orders": couriers,
    }


STAGE = {
    "Placed": "placed",
    "Paid": "paid",
    "Accepted": "accepted",
    "ReadyForPickup": "ready",
    "PickedUp": "picked_up",
    "Delivered": "delivered",
}


def cancellation_funnel(orders: list[Any]) -> dict[str, Table]:
    funnel = Counters(
        KEYS["cancellation_funnel"], ("orders_reached", "orders_cancelled", "orders_rejected")
    )
    exits = Counters(KEYS["cancellation_funnel_exits"], ("orders",))
    furthest: Table = {}
    for order_id, story in stories(orders, originator).items():
        placed_on = day(story[0].timestamp)
        reached = [STAGE[name(e)] for e in story if name(e) in STAGE]
        for stage in reached:
            funnel.bump((placed_on, stage), orders_reached=1)
        outcome = None
        for e in story:
            if name(e) in ("Cancelled", "Rejected"):
                outcome = name(e).lower()
                funnel.bump((placed_on, reached[-1]), **{f"orders_{outcome}": 1})
                exits.bump((placed_on, reached[-1], outcome, str(e.cause.role)), orders=1)
        furthest[(order_id,)] = {
            "order_id": order_id,
            "day": placed_on,
            "stage": reached[-1],
            "outcome": outcome,
        }
    return {
        "cancellation_funnel": funnel.rows,
        "cancellation_funnel_exits": exits.rows,
        "cancellation_funnel_orders": furthest,
    }


LOGS = {"Order": "Ordering", "Payment": "Payments", "Delivery": "Deliveries"}


def order_history(events: list[Any]) -> Table:
    rows: Table = {}
    for e in events:
        order_id = str(e.originator_id if aggregate(e) == "Order" else e.order_id)
        key = (order_id, str(e.originator_id), e.originator_version)
        rows[key] = {
            **dict(zip(KEYS["order_history"], key, strict=True)),
            "leader": LOGS[aggregate(e)],
            "type": type(e).__qualname__,
            "occurred_at": e.timestamp,
            "actor_id": e.cause.actor_id,
            "actor_role": str(e.cause.role),
            "correlation_id": e.cause.correlation_id,
        }
    return rows


def fold(tiffin: Tiffin) -> dict[str, Table]:
    """Every table of every view, from the four logs' events."""
    restaurants = logged(tiffin.restaurants, tiffin.personal)
    orders, payments = (
        logged(tiffin.ordering, tiffin.personal),
        logged(tiffin.payments, tiffin.personal),
    )
    deliveries = [
        e for e in logged(tiffin.deliveries, tiffin.personal) if aggregate(e) == "Delivery"
    ]
    return {
        "order_summary": order_summary(orders, payments, deliveries),
        **catalogue(restaurants),
        **daily_sales(orders),
        **courier_performance(orders, deliveries),
        **cancellation_funnel(orders),
        "order_history": order_history([*orders, *payments, *deliveries]),
    }


def hot_fold(tiffin: Tiffin) -> dict[str, dict[str, Any]]:
    """The key-value views, from the logs' events."""
    orders, payments = (
        logged(tiffin.ordering, tiffin.personal),
        logged(tiffin.payments, tiffin.personal),
    )
    deliveries = [
        e for e in logged(tiffin.deliveries, tiffin.personal) if aggregate(e) == "Delivery"
    ]
    return {
        "order_tracking": hot_view_folds.order_tracking(orders, payments, deliveries),
        "restaurant_queue": hot_view_folds.restaurant_queue(orders),
    }


def hot_view(tiffin: Tiffin, name: str) -> dict[str, Any]:
    base = f"{tiffin.settings.redis_prefix}view:{name}:"
    return hot_view_folds.without_bookkeeping(tiffin.hot_views.snapshot(base))


def logged(app: Application[Any], personal: Personal) -> list[Any]:
    """Every event of the application's notification log, in order, as the views see it
    (people's ids as pseudonyms, free text sealed: ``projections.personal``)."""
    events: list[Any] = []
    after = 0
    while batch := app.recorder.select_notifications(
        start=after, limit=500, inclusive_of_start=False
    ):
        events += [viewed(app.mapper.to_domain_event(n), personal) for n in batch]
        after = batch[-1].id
    return events


# Comparing


def expected(value: Any) -> Any:
    """A fold's value as a view gives it back (see ``stored``)."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    return stored(value)


def stored(value: Any) -> Any:
    """Booleans as 0/1 (SQLite stores them so), timestamps as their UTC ISO text (SQLite
    keeps the text they were written as, PostgreSQL a time)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(" ")
    return value


def view(tiffin: Tiffin, table: str) -> Table:
    key = KEYS[table]
    with tiffin.views().transaction() as run:
        cursor = run(f"SELECT * FROM {table} ORDER BY {', '.join(key)}", ())
        columns = [column[0] for column in cursor.description]
        rows = [dict(zip(columns, map(stored, row), strict=True)) for row in cursor.fetchall()]
    return {tuple(row[k] for k in key): row for row in rows}


def test_every_registered_table_is_checked() -> None:
    tables = {
        match
        for projection in PROJECTIONS.values()
        for statement in projection.tables
        for match in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
    }
    assert tables == set(KEYS)


# The histories


class ViewsMachine(RuleBasedStateMachine):
    database_url: ClassVar[str | None] = None  # set per backend: PostgreSQL, else SQLite
    restaurants = Bundle("restaurants")
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.resources = ExitStack()
        self.data_dir = Path(tempfile.mkdtemp(prefix="tiffin-views-"))
        environ = {"TIFFIN_DATA_DIR": str(self.data_dir), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
        if self.database_url is not None:  # server mode: PostgreSQL and Redis
            environ["TIFFIN_DATABASE_URL"] = self.resources.enter_context(
                fresh_schema(self.database_url)
            )
            environ["TIFFIN_REDIS_URL"] = REDIS_URL
            environ["TIFFIN_REDIS_PREFIX"] = self.resources.enter_context(scratch_prefix())
        self.settings = load_settings(environ)
        self.clock = ManualClock()
        self.tiffin: Tiffin = bootstrap(self.settings, clock=self.clock)
        self.resources.callback(self.tiffin.close)
        self.saga: Runtime = self.tiffin.runtime(only=SAGA_WORKERS)
        self.resources.callback(self.saga.stop)
        self.owners: dict[UUID, Cause] = {}
        self.customers: dict[UUID, Cause] = {}
        self.kitchen = open_kitchen(self.tiffin)
        self.owners[self.kitchen.restaurant.id] = self.kitchen.owner
        self.riders: dict[str, Cause] = {}
        for _ in range(2):
            courier, rider = courier_on_shift(self.tiffin)
            self.riders[str(courier.id)] = rider

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:  # else a step failed: its error is the one to report
                self.views_equal_the_fold()
        finally:
            self.resources.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def views_equal_the_fold(self) -> None:
        for view_name in EVERY_VIEW:
            projector(self.tiffin, self.tiffin.views(), view_name).run_once()
        folded = fold(self.tiffin)
        for table, rows in folded.items():
            want = {key: {c: expected(v) for c, v in row.items()} for key, row in rows.items()}
            assert view(self.tiffin, table) == want, table
        hot = hot_fold(self.tiffin)
        assert set(hot) == set(HOT_VIEWS), "every key-value view is checked"
        for name, keys in hot.items():
            assert hot_view(self.tiffin, name) == keys, name
        event(f"orders: {len(folded['order_summary'])}")

    # Restaurants and their menus

    @initialize(target=restaurants)
    def a_kitchen_is_open(self) -> UUID:
        return self.kitchen.restaurant.id

    @initialize(target=orders)
    def a_first_order(self) -> UUID:
        customer = cause(Role.CUSTOMER)
        order = place(self.tiffin, self.kitchen, customer)
        self.customers[order.id] = customer
        return order.id

    @precondition(lambda self: len(self.owners) < 3)
    @rule(target=restaurants, cuisine=st.sampled_from(CUISINES))
    def a_restaurant_registers(self, cuisine: str) -> UUID:
        owner = cause(Role.RESTAURANT)
        restaurant = self.tiffin.restaurants.register_restaurant(
            owner_id=owner.actor_id,
            name=f"Kitchen {len(self.owners)}",
            cuisine=cuisine,
            address="1 MG Road",
            location=Location(12.97, 77.59),
            opening_hours="11:00-23:00",
            cause=owner,
        ).value
        self.owners[restaurant.id] = owner
        return restaurant.id

    @rule(
        restaurant_id=restaurants,
        change=st.sampled_from(("add", "change", "remove")),
        pick=st.integers(0, 9),
        rupees=st.none() | st.integers(1, 500),
        available=st.none() | st.booleans(),
    )
    def the_menu_changes(
        self,
        restaurant_id: UUID,
        change: str,
        pick: int,
        rupees: int | None,
        available: bool | None,
    ) -> None:
        """An item is added, changed (price, availability, or both) or removed."""
        restaurants, owner = self.tiffin.restaurants, self.owners[restaurant_id]
        price = None if rupees is None else Money.parse(rupees)
        menu = list(restaurants.get_restaurant(restaurant_id).menu)
        if change == "add" or not menu:
            restaurants.add_menu_item(
                restaurant_id,
                name=f"Dish {uuid4().hex[:4]}",
                price=price or Money.parse("99.00"),
                category=("", "mains", "drinks")[pick % 3],
                available=available is not False,
                cause=owner,
            )
        elif change == "change":
            item_id = menu[pick % len(menu)]
            restaurants.change_menu_item(
                restaurant_id, item_id, price=price, available=available, cause=owner
            )
        else:
            restaurants.remove_menu_item(restaurant_id, menu[pick % len(menu)], owner)

    @rule(restaurant_id=restaurants, online=st.booleans())
    def a_restaurant_goes_online_or_offline(self, restaurant_id: UUID, online: bool) -> None:
        self.tiffin.restaurants.set_online(restaurant_id, online, self.owners[restaurant_id])

    # Orders

    @precondition(lambda self: len(self.customers) < MAX_ORDERS)
    @rule(
        target=orders,
        restaurant_id=restaurants,
        lines=st.lists(st.tuples(st.integers(0, 9), st.integers(1, 3)), min_size=1, max_size=3),
        until=st.none() | st.sampled_from(HAPPY_PATH[1:]),
    )
    def a_customer_orders(
        self, restaurant_id: UUID, lines: list[tuple[int, int]], until: OrderStatus | None
    ) -> MultipleResults[UUID]:
        """A customer orders some of the menu (refused if the restaurant is offline or an
        item unavailable), and the order may then move on as far as ``until``."""
        menu = list(self.tiffin.restaurants.get_restaurant(restaurant_id).menu)
        if not menu:
            return multiple()
        customer = cause(Role.CUSTOMER)
        requests = [LineRequest(menu[pick % len(menu)], quantity) for pick, quantity in lines]
        try:
            order = self.tiffin.ordering.place_order(
                customer_id=customer.actor_id,
                restaurant_id=restaurant_id,
                requests=requests,
                delivery_address=HOME,
                payment_vpa="asha@okbank",
                cause=customer,
            ).value
        except REFUSALS as refusal:
            event(f"refused: {type(refusal).__name__}")
            return multiple()
        self.customers[order.id] = customer
        if until is not None:
            self.the_order_moves_on(order.id, until)
        return multiple(order.id)

    @rule(
        order_id=orders,
        kind=st.sampled_from(
            ("payment.captured", "payment.captured", "payment.failed", "refund.processed")
        ),
    )
    def the_gateway_reports(self, order_id: UUID, kind: str) -> None:
        try:
            payment = self.tiffin.payments.get_payment(payment_id_for(order_id))
        except NotFound:
            return  # not requested yet
        gateway_says(self.tiffin, payment, kind)

    @rule(seconds=st.sampled_from(("payment_expiry", "acceptance_timeout", "assignment_retry")))
    def a_deadline_passes(self, seconds: str) -> None:
        """The saga catches up, the scheduler's clock jumps past the deadline and fires what
        is due; then it goes back (events are stamped with real time)."""
        self.process()
        jump = getattr(self.settings, f"{seconds}_seconds") + 1
        self.clock.advance(jump)
        try:
            self.worker(deadlines.QUEUE).run_once()
        finally:
            self.clock.advance(-jump)

    @rule(
        order_id=orders,
        act=st.sampled_from(("accept", "mark ready")),
        prep_minutes=st.integers(1, 240),
    )
    def the_restaurant_acts(self, order_id: UUID, act: str, prep_minutes: int) -> None:
        ordering, owner = self.tiffin.ordering, self.owner_of(order_id)
        if act == "accept":
            self.attempt(lambda: ordering.accept_order(order_id, prep_minutes, owner))
        else:
            self.attempt(lambda: ordering.mark_ready(order_id, owner))

    @rule(
        order_id=orders,
        how=st.sampled_from(("customer cancels", "restaurant cancels", "admin cancels", "reject")),
        refunded=st.booleans(),
    )
    def the_order_is_stopped(self, order_id: UUID, how: str, refunded: bool) -> None:
        """The order is cancelled or rejected, if it still may be; money taken for it may
        then come back."""
        ordering, owner = self.tiffin.ordering, self.owner_of(order_id)
        if how == "reject":
            self.attempt(lambda: ordering.reject_order(order_id, "out of rice", owner))
        else:
            who = {
                "customer cancels": self.customers[order_id],
                "restaurant cancels": owner,
                "admin cancels": ADMIN,
            }[how]
            self.attempt(lambda: ordering.cancel_order(order_id, "changed plans", who))
        if refunded:
            self.process()
            self.the_gateway_reports(order_id, "refund.processed")

    @rule(order_id=orders)
    def a_courier_drops_the_delivery(self, order_id: UUID) -> None:
        """The order's courier gives the delivery up before pickup (it waits for another)."""
        self.process()
        self.the_courier_acts(order_id, "drop")

    @rule(order_id=orders, act=st.sampled_from(("pick_up", "deliver", "drop")))
    def the_courier_acts(self, order_id: UUID, act: str) -> None:
        deliveries = self.tiffin.deliveries

        def command(delivery_id: UUID, rider: Cause) -> object:
            if act == "drop":
                return deliveries.unassign_courier(delivery_id, "flat tyre", rider)
            return getattr(deliveries, act)(delivery_id, rider)

        self.attempt(lambda: self.courier_does(order_id, command))

    @rule(pick=st.integers(0, 1), on_shift=st.sampled_from((True, True, False)))
    def a_courier_changes_shift(self, pick: int, on_shift: bool) -> None:
        courier_id = sorted(self.riders)[pick]
        rider = self.riders[courier_id]
        self.attempt(lambda: self.tiffin.deliveries.set_on_shift(UUID(courier_id), on_shift, rider))

    @rule(order_id=orders, stars=STARS)
    def the_customer_rates(self, order_id: UUID, stars: tuple[int, int]) -> None:
        restaurant, courier = stars
        customer = self.customers[order_id]
        self.attempt(
            lambda: self.tiffin.ordering.rate_order(
                order_id, restaurant_stars=restaurant, courier_stars=courier, cause=customer
            )
        )

    @rule(order_id=orders, until=st.sampled_from(HAPPY_PATH[1:]))
    def the_order_moves_on(self, order_id: UUID, until: OrderStatus) -> None:
        """Everyone does their part until the order is ``until`` or stuck: without it,
        random steps rarely take an order past acceptance."""
        self.process()
        while (status := self.status_of(order_id)) in HAPPY_PATH[: HAPPY_PATH.index(until)]:
            version = self.tiffin.ordering.get_order(order_id).version
            if status is OrderStatus.AWAITING_PAYMENT:
                self.the_gateway_reports(order_id, "payment.captured")
            elif status is OrderStatus.PENDING_ACCEPTANCE:
                self.the_restaurant_acts(order_id, "accept", 15)
            elif status is OrderStatus.ACCEPTED:
                self.the_restaurant_acts(order_id, "mark ready", 15)
            else:
                self.the_courier_acts(
                    order_id, "pick_up" if status is OrderStatus.READY_FOR_PICKUP else "deliver"
                )
            self.process()
            if self.tiffin.ordering.get_order(order_id).version == version:
                return

    @rule(order_id=orders, stars=STARS)
    def the_order_is_delivered_and_rated(self, order_id: UUID, stars: tuple[int, int]) -> None:
        self.the_order_moves_on(order_id, OrderStatus.DELIVERED)
        self.the_customer_rates(order_id, stars)

    # The saga and the projectors

    @rule()
    def process(self) -> None:
        self.saga.run_until_idle()

    @rule(view_name=st.sampled_from(sorted(EVERY_VIEW)), backwards=st.booleans())
    def a_projector_catches_up(self, view_name: str, backwards: bool) -> None:
        """A view catches up now, reading its logs in their usual or the reverse order."""
        projection = EVERY_VIEW[view_name]
        leaders = leaders_of(self.tiffin, projection)
        ordered = leaders[::-1] if backwards else leaders
        views = live_view(self.tiffin, self.tiffin.views(), view_name)
        Projector(projection, ordered, views, personal=self.tiffin.personal).run_once()

    # Helpers

    def owner_of(self, order_id: UUID) -> Cause:
        return self.owners[self.tiffin.ordering.get_order(order_id).restaurant_id]

    def status_of(self, order_id: UUID) -> OrderStatus:
        return self.tiffin.ordering.get_order(order_id).status

    def attempt(self, command: Callable[[], object]) -> None:
        """Runs a party's command; the domain refusing it in the current state is no failure."""
        try:
            command()
        except REFUSALS as refusal:
            event(f"refused: {type(refusal).__name__}")

    def courier_does(self, order_id: UUID, act: Callable[[UUID, Cause], object]) -> None:
        """The order's courier (any courier, if it has none) acts on the order's delivery."""
        delivery = self.tiffin.deliveries.delivery_of_order(order_id)
        rider = self.riders.get(delivery.courier_id or "", next(iter(self.riders.values())))
        act(delivery.id, rider)

    def worker(self, worker_name: str) -> Component:
        return next(c for c in self.saga.components if c.name == worker_name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_view_equals_a_fold_of_the_events(
    backend: str, request: pytest.FixtureRequest
) -> None:
    class OnBackend(ViewsMachine):
        database_url = request.getfixturevalue("database_url") if backend == "postgres" else None

    run_state_machine_as_test(
        OnBackend,
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        ),
    )
