"""Order aggregate: from placement through payment, preparation and delivery, to a rating."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    AlreadyRated,
    CurrencyMismatch,
    IllegalTransition,
    InvalidMoney,
    InvalidPrepMinutes,
    InvalidStars,
    OrderNotCancellable,
)
from domain.restaurant import LineRequest, OrderLine, Restaurant
from domain.values import Cause, Location, Money, Role, require_text

ORDER_NAMESPACE = uuid5(NAMESPACE_URL, "https://tiffin.invalid/orders")
MAX_PREP_MINUTES = 240


def order_id_for(customer_id: str, idempotency_key: str) -> UUID:
    """The id an order placed by this customer with this idempotency key always gets."""
    return uuid5(ORDER_NAMESPACE, f"{customer_id}\x1f{idempotency_key}")


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PENDING_ACCEPTANCE = "pending_acceptance"
    ACCEPTED = "accepted"
    READY_FOR_PICKUP = "ready_for_pickup"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


BEFORE_ACCEPTANCE = frozenset({OrderStatus.AWAITING_PAYMENT, OrderStatus.PENDING_ACCEPTANCE})
BEFORE_PICKUP = BEFORE_ACCEPTANCE | {OrderStatus.ACCEPTED, OrderStatus.READY_FOR_PICKUP}
CANCELLABLE_BY_ROLE = {
    Role.CUSTOMER: BEFORE_ACCEPTANCE,
    Role.RESTAURANT: BEFORE_PICKUP,
    Role.ADMIN: BEFORE_PICKUP,
    Role.SYSTEM: BEFORE_PICKUP,
}


@dataclass(frozen=True)
class DeliveryAddress:
    line1: str
    city: str
    postal_code: str
    location: Location
    line2: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Rating:
    restaurant_stars: int
    courier_stars: int
    comment: str


def subtotal_of(lines: Sequence[OrderLine], currency: str) -> Money:
    total = Money.zero(currency)
    for line in lines:
        total = total + line.line_total
    return total


def total_of(lines: Sequence[OrderLine], delivery_fee: Money) -> Money:
    """What the customer pays for these lines delivered: the lines' prices and the fee."""
    return subtotal_of(lines, delivery_fee.currency) + delivery_fee


def _checked_stars(stars: int, whom: str) -> int:
    if type(stars) is not int or not 1 <= stars <= 5:
        raise InvalidStars(f"{whom} stars must be a whole number from 1 to 5, got {stars!r}")
    return stars


class Order(Aggregate):
    @classmethod
    def place(
        cls,
        *,
        customer_id: str,
        restaurant: Restaurant,
        requests: Sequence[LineRequest],
        delivery_address: DeliveryAddress,
        delivery_fee: Money,
        payment_vpa: str,
        cause: Cause,
        idempotency_key: str | None = None,
    ) -> Order:
        """Places an order priced from the restaurant's live menu."""
        lines = restaurant.price_order(requests)
        if delivery_fee.minor < 0:
            raise InvalidMoney(f"a delivery fee cannot be negative, got {delivery_fee}")
        currencies = {line.unit_price.currency for line in lines} | {delivery_fee.currency}
        if len(currencies) > 1:
            raise CurrencyMismatch(f"an order is paid in one currency, not {sorted(currencies)}")
        require_text(delivery_address.line1, "address line 1", 300)
        require_text(delivery_address.city, "city", 100)
        require_text(delivery_address.postal_code, "postal code", 20)
        return cls(
            customer_id=require_text(customer_id, "customer id"),
            restaurant_id=restaurant.id,
            pickup=restaurant.location,
            lines=lines,
            delivery_address=delivery_address,
            delivery_fee=delivery_fee,
            payment_vpa=require_text(payment_vpa, "UPI VPA", 255),
            idempotency_key=idempotency_key,
            cause=cause,
        )

    @staticmethod
    def create_id(customer_id: str, idempotency_key: str | None) -> UUID:
        if idempotency_key is None:
            return uuid4()
        return order_id_for(customer_id, idempotency_key)

    @event("Placed")
    def __init__(
        self,
        *,
        customer_id: str,
        restaurant_id: UUID,
        pickup: Location,
        lines: tuple[OrderLine, ...],
        delivery_address: DeliveryAddress,
        delivery_fee: Money,
        payment_vpa: str,
        idempotency_key: str | None,
        cause: Cause,
    ) -> None:
        self.customer_id = customer_id
        self.restaurant_id = restaurant_id
        self.pickup = pickup
        self.lines = tuple(lines)
        self.delivery_address = delivery_address
        self.delivery_fee = delivery_fee
        self.payment_vpa = payment_vpa
        self.idempotency_key = idempotency_key
        self.status = OrderStatus.AWAITING_PAYMENT
        self.courier_id: str | None = None
        self.prep_minutes: int | None = None
        self.closing_reason: str | None = None
        self.rating: Rating | None = None

    @property
    def subtotal(self) -> Money:
        return subtotal_of(self.lines, self.delivery_fee.currency)

    @property
    def total(self) -> Money:
        return self.subtotal + self.delivery_fee

    def _require(self, allowed: frozenset[OrderStatus], action: str) -> None:
        if self.status not in allowed:
            raise IllegalTransition("order", action, self.status)

    def confirm_payment(self, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.AWAITING_PAYMENT}), "confirm payment of")
        self._paid(cause=cause)

    @event("Paid")
    def _paid(self, cause: Cause) -> None:
        self.status = OrderStatus.PENDING_ACCEPTANCE

    def accept(self, prep_minutes: int, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.PENDING_ACCEPTANCE}), "accept")
        if type(prep_minutes) is not int or not 1 <= prep_minutes <= MAX_PREP_MINUTES:
            raise InvalidPrepMinutes(
                f"preparation minutes must be from 1 to {MAX_PREP_MINUTES}, got {prep_minutes!r}"
            )
        self._accepted(prep_minutes=prep_minutes, cause=cause)

    @event("Accepted")
    def _accepted(self, prep_minutes: int, cause: Cause) -> None:
        self.status = OrderStatus.ACCEPTED
        self.prep_minutes = prep_minutes

    def reject(self, reason: str, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.PENDING_ACCEPTANCE}), "reject")
        self._rejected(reason=require_text(reason, "reason", 500), cause=cause)

    @event("Rejected")
    def _rejected(self, reason: str, cause: Cause) -> None:
        self.status = OrderStatus.REJECTED
        self.closing_reason = reason

    def mark_ready(self, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.ACCEPTED}), "mark ready")
        self._ready(cause=cause)

    @event("ReadyForPickup")
    def _ready(self, cause: Cause) -> None:
        self.status = OrderStatus.READY_FOR_PICKUP

    def assign_courier(self, courier_id: str, cause: Cause) -> None:
        self._require(
            frozenset({OrderStatus.ACCEPTED, OrderStatus.READY_FOR_PICKUP}), "assign a courier to"
        )
        self._courier_assigned(courier_id=require_text(courier_id, "courier id"), cause=cause)

    @event("CourierAssigned")
    def _courier_assigned(self, courier_id: str, cause: Cause) -> None:
        self.courier_id = courier_id

    def unassign_courier(self, cause: Cause) -> None:
        if self.courier_id is None:
            raise IllegalTransition("order", "unassign the courier of", "without a courier")
        self._require(BEFORE_PICKUP, "unassign the courier of")
        self._courier_unassigned(cause=cause)

    @event("CourierUnassigned")
    def _courier_unassigned(self, cause: Cause) -> None:
        self.courier_id = None

    def mark_picked_up(self, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.READY_FOR_PICKUP}), "pick up")
        if self.courier_id is None:
            raise IllegalTransition("order", "pick up", "without a courier")
        self._picked_up(cause=cause)

    @event("PickedUp")
    def _picked_up(self, cause: Cause) -> None:
        self.status = OrderStatus.PICKED_UP

    def mark_delivered(self, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.PICKED_UP}), "deliver")
        self._delivered(cause=cause)

    @event("Delivered")
    def _delivered(self, cause: Cause) -> None:
        self.status = OrderStatus.DELIVERED

    def cancel(self, reason: str, cause: Cause) -> None:
        allowed = CANCELLABLE_BY_ROLE.get(cause.role, frozenset())
        if self.status not in allowed:
            raise OrderNotCancellable(
                f"a {cause.role} cannot cancel an order that is {self.status}"
            )
        self._cancelled(reason=require_text(reason, "reason", 500), cause=cause)

    @event("Cancelled")
    def _cancelled(self, reason: str, cause: Cause) -> None:
        self.status = OrderStatus.CANCELLED
        self.closing_reason = reason

    def rate(self, restaurant_stars: int, courier_stars: int, comment: str, cause: Cause) -> None:
        self._require(frozenset({OrderStatus.DELIVERED}), "rate")
        if self.rating is not None:
            raise AlreadyRated(f"order {self.id} has already been rated")
        rating = Rating(
            _checked_stars(restaurant_stars, "restaurant"),
            _checked_stars(courier_stars, "courier"),
            comment.strip()[:1000],
        )
        self._rated(rating=rating, cause=cause)

    @event("Rated")
    def _rated(self, rating: Rating, cause: Cause) -> None:
        self.rating = rating
