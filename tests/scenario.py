"""Builders for the parties of an order, driven through the real applications."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from application.locations import CourierPosition
from application.webhooks import WebhookOutcome, signature_header
from domain.courier import Courier
from domain.order import DeliveryAddress, Order, OrderStatus
from domain.payment import Payment
from domain.restaurant import LineRequest, MenuItem, Restaurant
from domain.values import Cause, Location, Money, Role
from wiring.bootstrap import Tiffin


class ManualClock:
    """The scheduler's clock: real time, moved on by the test instead of by waiting."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += seconds


def cause(role: Role, actor_id: str | None = None) -> Cause:
    return Cause(actor_id or f"{role}-{uuid4().hex[:8]}", role, f"test-{uuid4().hex[:8]}")


SAGA = Cause("order-saga", Role.SYSTEM, "test")
ADMIN = Cause("support-1", Role.ADMIN, "test-support")
HAPPY_PATH = (
    OrderStatus.AWAITING_PAYMENT,
    OrderStatus.PENDING_ACCEPTANCE,
    OrderStatus.ACCEPTED,
    OrderStatus.READY_FOR_PICKUP,
    OrderStatus.PICKED_UP,
    OrderStatus.DELIVERED,
)
DELIVERED_ORDER_EVENTS = (
    "Placed",
    "Paid",
    "Accepted",
    "CourierAssigned",
    "ReadyForPickup",
    "PickedUp",
    "Delivered",
    "Rated",
)
NEAR_KITCHEN = Location(12.9460, 77.5720)
HOME = DeliveryAddress(
    line1="48 Residency Road",
    city="Bengaluru",
    postal_code="560025",
    location=Location(12.9667, 77.6067),
    phone="+919812345678",
)


@dataclass
class Kitchen:
    restaurant: Restaurant
    owner: Cause
    dosa: MenuItem
    coffee: MenuItem


def open_kitchen(tiffin: Tiffin) -> Kitchen:
    owner = cause(Role.RESTAURANT)
    restaurants = tiffin.restaurants
    restaurant = restaurants.register_restaurant(
        owner_id=owner.actor_id,
        name="Vidyarthi Bhavan",
        cuisine="south indian",
        address="32 Gandhi Bazaar",
        location=Location(12.9452, 77.5713),
        cause=owner,
    ).value
    dosa = restaurants.add_menu_item(
        restaurant.id, name="Masala dosa", price=Money.parse("120.00"), cause=owner
    ).value
    coffee = restaurants.add_menu_item(
        restaurant.id, name="Filter coffee", price=Money.parse("45.50"), cause=owner
    ).value
    restaurants.set_online(restaurant.id, True, owner)
    return Kitchen(restaurants.get_restaurant(restaurant.id), owner, dosa, coffee)


def place(
    tiffin: Tiffin,
    kitchen: Kitchen,
    customer: Cause,
    key: str | None = None,
    address: DeliveryAddress = HOME,
) -> Order:
    return tiffin.ordering.place_order(
        customer_id=customer.actor_id,
        restaurant_id=kitchen.restaurant.id,
        requests=[
            LineRequest(kitchen.dosa.id, 2, "extra chutney"),
            LineRequest(kitchen.coffee.id, 1),
        ],
        delivery_address=address,
        payment_vpa="asha@okbank",
        cause=customer,
        idempotency_key=key,
    ).value


def courier_on_shift(tiffin: Tiffin, at: Location = NEAR_KITCHEN) -> tuple[Courier, Cause]:
    """A courier on shift, who has just reported being ``at`` a place."""
    rider = cause(Role.COURIER)
    courier = tiffin.deliveries.register_courier(
        owner_id=rider.actor_id, name="Ravi", vehicle_type="scooter", cause=rider
    ).value
    tiffin.deliveries.set_on_shift(courier.id, True, rider)
    tiffin.locations.record(CourierPosition(str(courier.id), at, datetime.now(UTC)))
    return tiffin.deliveries.get_courier(courier.id), rider


def gateway_says(
    tiffin: Tiffin, payment: Payment, kind: str, event_id: str | None = None
) -> WebhookOutcome:
    """The UPI gateway reports on a payment through a signed webhook, as a real one would."""
    amount = payment.refund.amount if kind == "refund.processed" and payment.refund else None
    money = amount or payment.amount
    raw = json.dumps(
        {
            "id": event_id or f"evt_{uuid4().hex}",
            "type": kind,
            "payment_id": str(payment.id),
            "gateway_ref": f"UTR{uuid4().hex[:10]}",
            "amount": {"amount": str(money.amount), "currency": money.currency},
            "reason": "declined by the payer's bank",
        }
    ).encode()
    secret = tiffin.webhooks.signatures.secret
    return tiffin.webhooks.receive(signature_header(secret, raw, int(time.time())), raw)


def paid_order(tiffin: Tiffin, saga: Any, kitchen: Kitchen, customer: Cause) -> Order:
    """An order placed by ``customer`` and paid (the saga's ``run_until_idle`` between)."""
    order = place(tiffin, kitchen, customer)
    saga.run_until_idle()
    gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()
    return order


def pending_payment(tiffin: Tiffin) -> Payment:
    """A placed order's payment, requested and not yet paid."""
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    return tiffin.payments.request_payment(
        order_id=order.id, amount=order.total, vpa=order.payment_vpa, cause=SAGA
    ).value


def delivered_and_cancelled(
    tiffin: Tiffin, saga: Any, kitchen: Kitchen, rider: Cause
) -> tuple[Order, Order]:
    """Two orders, both paid: one delivered by ``rider``, one cancelled by its customer (the
    saga's ``run_until_idle`` between the steps)."""
    delivered, cancelled = (place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(2))
    saga.run_until_idle()
    for order in (delivered, cancelled):
        gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()
    tiffin.ordering.cancel_order(cancelled.id, "ordered twice", cause(Role.CUSTOMER))
    tiffin.ordering.accept_order(delivered.id, 10, kitchen.owner)
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(delivered.id)
    tiffin.deliveries.pick_up(delivery.id, rider)
    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()
    return delivered, cancelled
