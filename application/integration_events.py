"""Integration events: the facts other systems may subscribe to, and their contract.

Domain events are the platform's own and change with it (``docs/events.md``); integration
events are a published contract, versioned on their own. Each public domain event maps to one
integration event with a versioned type (``tiffin.order.placed.v1``), data of a declared shape
(a pydantic model, whose JSON Schema is checked in under ``docs/events/``), the topic of its
context, and its aggregate as subject and key (so one aggregate's events keep their order on
one partition).

What stays out: delivery addresses and drop-off points, phones, VPAs and UPI links, names of
couriers and their plates, free text (reasons, comments, kitchen notes), owners' ids. What is
in: ids (orders, restaurants, menu items, payments, deliveries, couriers; the customer's
account id, which a notifications or fraud service needs to act on an order), amounts,
statuses and times, and public facts of restaurants (name, cuisine, business address and
location). A breaking change publishes its ``v2`` beside ``v1`` for the period in
``docs/events/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from domain.order import subtotal_of
from domain.values import Cause, Location, Money

TYPE_PREFIX = "tiffin."
SCHEMA_URN = "urn:tiffin:events:"  # + type: the data's JSON Schema (docs/events/<type>.json)
CONTEXT_TOPICS = ("orders", "payments", "deliveries", "restaurants", "couriers")
LOCATIONS_TOPIC = "courier-locations"
LOCATION_TYPE = f"{TYPE_PREFIX}courier.location.v1"  # from the API's pings, not from a log


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Amount(Data):
    amount: str  # decimal text, e.g. "270.00"
    currency: str  # ISO 4217


class Point(Data):
    lat: float
    lng: float


class Line(Data):
    menu_item_id: str
    name: str
    quantity: int
    unit_price: Amount


class OrderPlaced(Data):
    order_id: str
    customer_id: str
    restaurant_id: str
    lines: list[Line]
    subtotal: Amount
    delivery_fee: Amount
    total: Amount


class OrderFact(Data):
    order_id: str


class OrderAccepted(Data):
    order_id: str
    prep_minutes: int


class OrderClosed(Data):
    order_id: str
    by_role: str  # who closed it: customer, restaurant, admin or system


class OrderCourier(Data):
    order_id: str
    courier_id: str


class OrderRated(Data):
    order_id: str
    restaurant_stars: int
    courier_stars: int


class PaymentRequested(Data):
    payment_id: str
    order_id: str
    amount: Amount


class PaymentFact(Data):
    payment_id: str
    order_id: str


class PaymentCaptured(Data):
    payment_id: str
    order_id: str
    gateway_ref: str


class RefundRequested(Data):
    payment_id: str
    order_id: str
    amount: Amount


class DeliveryRequested(Data):
    delivery_id: str
    order_id: str
    pickup: Point  # the restaurant's location; the drop-off (a home) stays out


class DeliveryFact(Data):
    delivery_id: str
    order_id: str


class DeliveryAssigned(Data):
    delivery_id: str
    order_id: str
    courier_id: str


class RestaurantRegistered(Data):
    restaurant_id: str
    name: str
    cuisine: str
    address: str  # the business's own, shown to every customer
    location: Point


class RestaurantFact(Data):
    restaurant_id: str


class MenuItemPublished(Data):
    restaurant_id: str
    menu_item_id: str
    name: str
    price: Amount
    category: str
    available: bool


class MenuItemRemoved(Data):
    restaurant_id: str
    menu_item_id: str


class CourierRegistered(Data):
    courier_id: str
    vehicle_type: str


class CourierFact(Data):
    courier_id: str


class CourierDelivery(Data):
    courier_id: str
    delivery_id: str


class CourierLocation(Data):
    courier_id: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Contract:
    """How one domain event is published: its integration type and version, its topic (a
    context's), and its data."""

    domain_event: str  # qualname, e.g. "Order.Placed"
    name: str  # e.g. "order.placed"
    version: int
    topic: str
    data: type[Data]
    build: Callable[[Any], dict[str, Any]]

    @cached_property
    def type(self) -> str:
        return f"{TYPE_PREFIX}{self.name}.v{self.version}"

    @cached_property
    def dataschema(self) -> str:
        return SCHEMA_URN + self.type

    @cached_property
    def id_suffix(self) -> str:
        """What ends the ids of this version's events: nothing for v1, ``:v2`` for a v2
        published beside it (so each version's event has an id of its own)."""
        return f":v{self.version}" if self.version > 1 else ""


class IntegrationEvent(NamedTuple):
    """One integration event, before it is enveloped (CloudEvents) and sent (a tuple: the
    relay makes one per published event, and a frozen dataclass's ``__init__`` cost more than
    enveloping it)."""

    id: str  # stable: <application>:<aggregate id>:<version>, the same on a re-publish
    source: str  # /tiffin/<application>
    type: str
    topic: str  # the context's (without the configured prefix)
    subject: str  # the aggregate id: the message key
    time: datetime
    dataschema: str
    data: dict[str, Any]
    correlation_id: str
    actor: str
    actor_role: str


def integration_event(application: str, contract: Contract, event: Any) -> IntegrationEvent:
    """The integration event of a domain event of ``application``'s log."""
    cause: Cause = event.cause
    subject = _id(event.originator_id)
    app = application.lower()
    return IntegrationEvent(
        f"{app}:{subject}:{event.originator_version}{contract.id_suffix}",
        f"/tiffin/{app}",
        contract.type,
        contract.topic,
        subject,
        event.timestamp,
        contract.dataschema,
        contract.build(event),  # its shape is the contract's ``data`` (tested per message)
        cause.correlation_id,
        cause.actor_id,
        cause.role.value,
    )


def location_data(courier_id: str, lat: float, lng: float) -> dict[str, Any]:
    """A courier location ping's data (``LOCATION_TYPE``, shaped as ``CourierLocation``)."""
    return {"courier_id": courier_id, "lat": lat, "lng": lng}


_id = lru_cache(maxsize=16_384)(str)  # an id's text: an order's events name it again and again


def _amount(money: Money) -> dict[str, str]:
    return {"amount": money.amount_text, "currency": money.currency}


def _point(location: Location) -> dict[str, float]:
    return {"lat": location.lat, "lng": location.lng}


def _order(e: Any) -> dict[str, Any]:
    return {"order_id": _id(e.originator_id)}


def _payment(e: Any) -> dict[str, Any]:
    return {"payment_id": _id(e.originator_id), "order_id": _id(e.order_id)}


def _delivery(e: Any) -> dict[str, Any]:
    return {"delivery_id": _id(e.originator_id), "order_id": _id(e.order_id)}


def _restaurant(e: Any) -> dict[str, Any]:
    return {"restaurant_id": _id(e.originator_id)}


def _courier(e: Any) -> dict[str, Any]:
    return {"courier_id": _id(e.originator_id)}


def _placed(e: Any) -> dict[str, Any]:
    lines = [
        {
            "menu_item_id": _id(line.menu_item_id),
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": _amount(line.unit_price),
        }
        for line in e.lines
    ]
    subtotal = subtotal_of(e.lines, e.delivery_fee.currency)
    return {
        **_order(e),
        "customer_id": e.customer_id,
        "restaurant_id": _id(e.restaurant_id),
        "lines": lines,
        "subtotal": _amount(subtotal),
        "delivery_fee": _amount(e.delivery_fee),
        "total": _amount(subtotal + e.delivery_fee),
    }


def _menu_item(e: Any) -> dict[str, Any]:
    item = e.item
    return {
        **_restaurant(e),
        "menu_item_id": _id(item.id),
        "name": item.name,
        "price": _amount(item.price),
        "category": item.category,
        "available": item.available,
    }


def _closed(e: Any) -> dict[str, Any]:
    return {**_order(e), "by_role": str(e.cause.role)}


def _accepted(e: Any) -> dict[str, Any]:
    return {**_order(e), "prep_minutes": e.prep_minutes}


def _order_courier(e: Any) -> dict[str, Any]:
    return {**_order(e), "courier_id": e.courier_id}


def _rated(e: Any) -> dict[str, Any]:
    stars = {"restaurant_stars": e.rating.restaurant_stars, "courier_stars": e.rating.courier_stars}
    return {**_order(e), **stars}


def _payment_requested(e: Any) -> dict[str, Any]:
    return {**_payment(e), "amount": _amount(e.amount)}


def _captured(e: Any) -> dict[str, Any]:
    return {**_payment(e), "gateway_ref": e.gateway_ref}


def _refund_requested(e: Any) -> dict[str, Any]:
    return {**_payment(e), "amount": _amount(e.refund.amount)}


def _delivery_requested(e: Any) -> dict[str, Any]:
    return {**_delivery(e), "pickup": _point(e.pickup)}


def _delivery_assigned(e: Any) -> dict[str, Any]:
    return {**_delivery(e), "courier_id": e.courier_id}


def _restaurant_registered(e: Any) -> dict[str, Any]:
    public = {"name": e.name, "cuisine": e.cuisine, "address": e.address}
    return {**_restaurant(e), **public, "location": _point(e.location)}


def _menu_item_removed(e: Any) -> dict[str, Any]:
    return {**_restaurant(e), "menu_item_id": _id(e.item_id)}


def _courier_registered(e: Any) -> dict[str, Any]:
    return {**_courier(e), "vehicle_type": str(e.vehicle_type)}


def _courier_delivery(e: Any) -> dict[str, Any]:
    return {**_courier(e), "delivery_id": _id(e.delivery_id)}


Published = tuple[str, str, type[Data], Callable[[Any], dict[str, Any]]]
PUBLISHED: dict[str, tuple[Published, ...]] = {  # topic: (domain event, name, data, build)
    "orders": (
        ("Order.Placed", "order.placed", OrderPlaced, _placed),
        ("Order.Paid", "order.paid", OrderFact, _order),
        ("Order.Accepted", "order.accepted", OrderAccepted, _accepted),
        ("Order.Rejected", "order.rejected", OrderClosed, _closed),
        ("Order.ReadyForPickup", "order.ready_for_pickup", OrderFact, _order),
        ("Order.CourierAssigned", "order.courier_assigned", OrderCourier, _order_courier),
        ("Order.CourierUnassigned", "order.courier_unassigned", OrderFact, _order),
        ("Order.PickedUp", "order.picked_up", OrderFact, _order),
        ("Order.Delivered", "order.delivered", OrderFact, _order),
        ("Order.Cancelled", "order.cancelled", OrderClosed, _closed),
        ("Order.Rated", "order.rated", OrderRated, _rated),
    ),
    "payments": (
        ("Payment.Requested", "payment.requested", PaymentRequested, _payment_requested),
        ("Payment.Captured", "payment.captured", PaymentCaptured, _captured),
        ("Payment.Failed", "payment.failed", PaymentFact, _payment),
        ("Payment.Expired", "payment.expired", PaymentFact, _payment),
        ("Payment.RefundRequested", "payment.refund_requested", RefundRequested, _refund_requested),
        ("Payment.Refunded", "payment.refunded", PaymentFact, _payment),
    ),
    "deliveries": (
        ("Delivery.Requested", "delivery.requested", DeliveryRequested, _delivery_requested),
        ("Delivery.Assigned", "delivery.assigned", DeliveryAssigned, _delivery_assigned),
        ("Delivery.Unassigned", "delivery.unassigned", DeliveryFact, _delivery),
        ("Delivery.PickedUp", "delivery.picked_up", DeliveryFact, _delivery),
        ("Delivery.Delivered", "delivery.delivered", DeliveryFact, _delivery),
        ("Delivery.Recalled", "delivery.recalled", DeliveryFact, _delivery),
        ("Delivery.Cancelled", "delivery.cancelled", DeliveryFact, _delivery),
    ),
    "restaurants": (
        (
            "Restaurant.Registered",
            "restaurant.registered",
            RestaurantRegistered,
            _restaurant_registered,
        ),
        ("Restaurant.WentOnline", "restaurant.went_online", RestaurantFact, _restaurant),
        ("Restaurant.WentOffline", "restaurant.went_offline", RestaurantFact, _restaurant),
        ("Restaurant.MenuItemAdded", "restaurant.menu_item_added", MenuItemPublished, _menu_item),
        (
            "Restaurant.MenuItemChanged",
            "restaurant.menu_item_changed",
            MenuItemPublished,
            _menu_item,
        ),
        (
            "Restaurant.MenuItemRemoved",
            "restaurant.menu_item_removed",
            MenuItemRemoved,
            _menu_item_removed,
        ),
    ),
    "couriers": (
        ("Courier.Registered", "courier.registered", CourierRegistered, _courier_registered),
        ("Courier.ShiftStarted", "courier.shift_started", CourierFact, _courier),
        ("Courier.ShiftEnded", "courier.shift_ended", CourierFact, _courier),
        ("Courier.DeliveryTaken", "courier.delivery_taken", CourierDelivery, _courier_delivery),
        (
            "Courier.DeliveryReleased",
            "courier.delivery_released",
            CourierDelivery,
            _courier_delivery,
        ),
    ),
}


# A breaking change adds the new version here, beside the old (docs/events/README.md):
# ("Order.Placed", "order.placed", 2, OrderPlacedV2, _placed_v2), published with v1 for 90 days.
NEWER_VERSIONS: tuple[tuple[str, str, int, type[Data], Callable[[Any], dict[str, Any]]], ...] = ()


def _all_contracts() -> tuple[Contract, ...]:
    first = [
        Contract(domain_event, name, 1, topic, data, build)
        for topic, published in PUBLISHED.items()
        for domain_event, name, data, build in published
    ]
    topic_of = {c.domain_event: c.topic for c in first}
    newer = [Contract(e, n, v, topic_of[e], d, b) for e, n, v, d, b in NEWER_VERSIONS]
    return (*first, *newer)


CONTRACTS: tuple[Contract, ...] = _all_contracts()  # every version published now


def contracts_by_event(contracts: Iterable[Contract] = CONTRACTS) -> dict[str, list[Contract]]:
    """The contracts each domain event is published under (two while a v2 runs beside v1)."""
    found: dict[str, list[Contract]] = {}
    for contract in contracts:
        found.setdefault(contract.domain_event, []).append(contract)
    return found
