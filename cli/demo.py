"""A guided tour: one order from placement to delivery, driven through the applications."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import uuid4

from application.errors import NotFound
from application.history import HistoryEntry, order_history
from application.locations import CourierPosition
from application.settings import load_settings
from domain.delivery import Delivery
from domain.order import DeliveryAddress, OrderStatus
from domain.restaurant import LineRequest
from domain.values import Cause, Location, Money, Role
from wiring.bootstrap import Tiffin, bootstrap

Say = Callable[[str], None]
T = TypeVar("T")


def wait_for(check: Callable[[], T | bool | None], what: str, timeout: float = 30.0) -> T:
    """The first truthy result of ``check``, retried while the saga's workers get there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except NotFound:
            result = None
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.02)


def run_demo(tiffin: Tiffin, say: Say = print) -> list[HistoryEntry]:
    """Registers a restaurant and a courier, and lets one order run through the saga: paid by
    the gateway, accepted, given the nearest courier, delivered and rated. Prints its history.
    The saga's workers must be running (``tiffin.runtime().start()``)."""
    run = uuid4().hex[:8]
    owner = Cause(f"owner-{run}", Role.RESTAURANT, f"demo-{run}")
    rider = Cause(f"rider-{run}", Role.COURIER, f"demo-{run}")
    customer = Cause(f"customer-{run}", Role.CUSTOMER, f"demo-{run}")

    restaurant = tiffin.restaurants.register_restaurant(
        owner_id=owner.actor_id,
        name="Saravana Tiffin Centre",
        cuisine="south indian",
        address="12 MG Road, Bengaluru",
        location=Location(12.9756, 77.6050),
        opening_hours="Mo-Su 07:00-22:30",
        cause=owner,
    ).value
    dosa = tiffin.restaurants.add_menu_item(
        restaurant.id, name="Masala dosa", price=Money.parse("120.00"), category="dosa", cause=owner
    ).value
    coffee = tiffin.restaurants.add_menu_item(
        restaurant.id,
        name="Filter coffee",
        price=Money.parse("45.50"),
        category="drinks",
        cause=owner,
    ).value
    tiffin.restaurants.set_online(restaurant.id, True, owner)
    say(f"restaurant  {restaurant.name} ({restaurant.id}) online with 2 menu items")

    courier = tiffin.deliveries.register_courier(
        owner_id=rider.actor_id,
        name="Ravi",
        vehicle_type="scooter",
        license_plate="KA01AB1234",
        cause=rider,
    ).value
    tiffin.deliveries.set_on_shift(courier.id, True, rider)
    tiffin.locations.record(
        CourierPosition(str(courier.id), Location(12.9740, 77.6080), datetime.now(UTC))
    )
    say(f"courier     {courier.name} ({courier.id}) on shift, 400 m from the restaurant")

    order = tiffin.ordering.place_order(
        customer_id=customer.actor_id,
        restaurant_id=restaurant.id,
        requests=[LineRequest(dosa.id, 2, "extra chutney"), LineRequest(coffee.id, 1)],
        delivery_address=DeliveryAddress(
            line1="48 Residency Road",
            city="Bengaluru",
            postal_code="560025",
            location=Location(12.9667, 77.6067),
            phone="+919800000001",
        ),
        payment_vpa="asha@okbank",
        idempotency_key=f"demo-{run}",
        cause=customer,
    ).value
    say(f"order       {order.id} placed: total {order.total}")
    payment = wait_for(lambda: tiffin.payments.payment_of_order(order.id), "the payment request")
    say(f"payment     {payment.upi_uri}")
    wait_for(
        lambda: tiffin.ordering.get_order(order.id).status is OrderStatus.PENDING_ACCEPTANCE,
        "the gateway to capture the payment",
    )
    say("payment     captured by the gateway; the order waits for the restaurant")

    tiffin.ordering.accept_order(order.id, 15, owner)

    def assigned() -> Delivery | None:
        delivery = tiffin.deliveries.delivery_of_order(order.id)
        return delivery if tiffin.ordering.get_order(order.id).courier_id else None

    delivery = wait_for(assigned, "a courier to be assigned")
    say(f"delivery    {delivery.id}: courier {delivery.courier_id} assigned by the saga")
    tiffin.ordering.mark_ready(order.id, owner)
    tiffin.deliveries.pick_up(delivery.id, rider)
    wait_for(
        lambda: tiffin.ordering.get_order(order.id).status is OrderStatus.PICKED_UP,
        "the order to follow the pickup",
    )
    tiffin.deliveries.deliver(delivery.id, rider)
    wait_for(
        lambda: tiffin.ordering.get_order(order.id).status is OrderStatus.DELIVERED,
        "the order to follow the delivery",
    )
    final = tiffin.ordering.rate_order(
        order.id, restaurant_stars=5, courier_stars=4, comment="crisp dosa", cause=customer
    ).value
    say(f"order       {final.status}, rated {final.rating}")

    history = order_history(tiffin.ordering, tiffin.payments, tiffin.deliveries, order.id)
    say("")
    say(f"history of order {order.id} ({len(history)} events):")
    say(f"{'at (UTC)':<27} {'stream':<9} {'v':>2}  {'event':<16} actor")
    for entry in history:
        say(
            f"{entry.at.strftime('%Y-%m-%d %H:%M:%S.%f'):<27} {entry.stream:<9} "
            f"{entry.version:>2}  {entry.type:<16} {entry.actor_role}:{entry.actor_id}"
        )
    return history


def play_demo(_: argparse.Namespace) -> int:
    settings = load_settings()
    where = f"SQLite files in {settings.data_dir}" if settings.embedded else "PostgreSQL"
    print(f"tiffin demo: event store on {where}", flush=True)
    with bootstrap(settings) as tiffin:
        runtime = tiffin.runtime()
        runtime.start()
        try:
            run_demo(tiffin, lambda line: print(line, flush=True))
        finally:
            runtime.stop()
    return 0


def add_commands(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="deliver one order end to end and print its event history",
        description="Registers a restaurant and a courier, places an order, drives it through "
        "payment, acceptance, assignment, pickup and delivery, then prints its history.",
    )
    demo.set_defaults(run=play_demo)
