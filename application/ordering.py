"""Ordering context: placing orders and moving them through their lifecycle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.base import Reaction, TiffinProcess, saga_cause
from application.errors import ConcurrentChange, IdempotencyKeyReused, NotFound
from application.results import Changed
from domain.errors import InvalidMoney, OrderNotCancellable
from domain.order import DeliveryAddress, Order, OrderStatus, order_id_for
from domain.restaurant import LineRequest, Restaurant
from domain.values import Cause, Money

DEFAULT_DELIVERY_FEE = Money.parse("30.00")
MILESTONES = {
    "Placed": "placed_at",
    "Paid": "paid_at",
    "Accepted": "accepted_at",
    "ReadyForPickup": "ready_at",
    "PickedUp": "picked_up_at",
    "Delivered": "delivered_at",
    "Cancelled": "cancelled_at",
    "Rejected": "rejected_at",
}
AFTER_ACCEPTANCE = frozenset({OrderStatus.ACCEPTED, OrderStatus.READY_FOR_PICKUP})


class RestaurantLookup(Protocol):
    def get_restaurant(self, restaurant_id: UUID) -> Restaurant: ...


class DeliveryProgress(Protocol):
    def picked_up(self, order_id: UUID) -> bool:
        """Whether a courier has collected this order (the delivery may be ahead of it)."""
        ...


class Ordering(TiffinProcess):
    """Orders. Follows Payments (paid orders go to the restaurant, unpaid ones are cancelled)
    and Deliveries (the courier's milestones show on the order)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        restaurants: RestaurantLookup,
        delivery_fee: Money = DEFAULT_DELIVERY_FEE,
        max_total: Money | None = None,
    ) -> None:
        super().__init__(env)
        self.restaurants = restaurants
        self.delivery_fee = delivery_fee
        self.max_total = max_total  # TIFFIN_MAX_ORDER_TOTAL: no order comes to more
        self.delivery_progress: DeliveryProgress | None = None  # set once Deliveries exists

    def reactions(self) -> Mapping[str, Reaction]:
        return {
            "Payment.Captured": self._on_payment_captured,
            "Payment.Failed": self._on_payment_failed,
            "Payment.Expired": self._on_payment_expired,
            "Delivery.Assigned": self._on_courier_assigned,
            "Delivery.Unassigned": self._on_courier_unassigned,
            "Delivery.PickedUp": self._on_picked_up,
            "Delivery.Delivered": self._on_delivered,
        }

    def _on_payment_captured(self, captured: Any) -> Iterable[Order]:
        order = self.get_order(captured.order_id)
        order.confirm_payment(saga_cause(captured))
        yield order

    def _on_payment_failed(self, failed: Any) -> Iterable[Order]:
        yield self._cancelled_by_saga(failed, f"payment failed: {failed.reason}")

    def _on_payment_expired(self, expired: Any) -> Iterable[Order]:
        yield self._cancelled_by_saga(expired, "payment not made in time")

    def _cancelled_by_saga(self, upstream: Any, reason: str) -> Order:
        order = self.get_order(upstream.order_id)
        if order.status is OrderStatus.AWAITING_PAYMENT:
            order.cancel(reason[:500], saga_cause(upstream))
        return order

    def _on_courier_assigned(self, assigned: Any) -> Iterable[Order]:
        order = self.get_order(assigned.order_id)
        order.assign_courier(assigned.courier_id, saga_cause(assigned))
        yield order

    def _on_courier_unassigned(self, unassigned: Any) -> Iterable[Order]:
        order = self.get_order(unassigned.order_id)
        order.unassign_courier(saga_cause(unassigned))
        yield order

    def _on_picked_up(self, picked_up: Any) -> Iterable[Order]:
        """A courier collecting the food shows it was ready, whether or not it was marked so."""
        order = self.get_order(picked_up.order_id)
        if order.status is OrderStatus.ACCEPTED:
            order.mark_ready(saga_cause(picked_up))
        order.mark_picked_up(saga_cause(picked_up))
        yield order

    def _on_delivered(self, delivered: Any) -> Iterable[Order]:
        order = self.get_order(delivered.order_id)
        order.mark_delivered(saga_cause(delivered))
        yield order

    def place_order(
        self,
        *,
        customer_id: str,
        restaurant_id: UUID,
        requests: Sequence[LineRequest],
        delivery_address: DeliveryAddress,
        payment_vpa: str,
        cause: Cause,
        idempotency_key: str | None = None,
    ) -> Changed[Order]:
        """Places an order priced from the live menu.

        With an idempotency key the order's id derives from (customer, key): a retry of the
        same request returns the order placed first, a different request with it is refused.
        """
        order = Order.place(
            customer_id=customer_id,
            restaurant=self.restaurants.get_restaurant(restaurant_id),
            requests=requests,
            delivery_address=delivery_address,
            delivery_fee=self.delivery_fee,
            payment_vpa=payment_vpa,
            idempotency_key=idempotency_key,
            cause=cause,
        )
        if self.max_total is not None and order.total > self.max_total:
            raise InvalidMoney(
                f"total: an order may come to {self.max_total}, this one to {order.total}"
            )
        try:
            return Changed(order, self.commit(order))
        except ConcurrentChange:
            if idempotency_key is None:
                raise
        existing = self.get_order(order_id_for(customer_id, idempotency_key))
        if _request_of(existing) != _request_of(order):
            raise IdempotencyKeyReused(
                f"idempotency key {idempotency_key!r} was used for a different order"
            ) from None
        return Changed(existing, None)

    def get_order(self, order_id: UUID, version: int | None = None) -> Order:
        return self.load(Order, order_id, version)

    def order_and_milestones(self, order_id: UUID) -> tuple[Order, dict[str, datetime]]:
        """The order and when it reached each milestone (``placed_at``, ``paid_at``, ...), from
        one read of its events."""
        order: Any = None
        events = self.history(order_id)
        for event in events:
            order = event.mutate(order)
        if not isinstance(order, Order):
            raise NotFound("order", order_id)
        return order, self.milestones_of(events)

    @staticmethod
    def milestones_of(events: Sequence[Any]) -> dict[str, datetime]:
        """When the order reached each milestone, from its events."""
        milestones: dict[str, datetime] = {}
        for event in events:
            name = MILESTONES.get(type(event).__name__)
            if name is not None:
                milestones[name] = event.timestamp
        return milestones

    def confirm_payment(self, order_id: UUID, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.confirm_payment(cause))

    def accept_order(self, order_id: UUID, prep_minutes: int, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.accept(prep_minutes, cause))

    def reject_order(self, order_id: UUID, reason: str, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.reject(reason, cause))

    def mark_ready(self, order_id: UUID, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.mark_ready(cause))

    def assign_courier(self, order_id: UUID, courier_id: str, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.assign_courier(courier_id, cause))

    def unassign_courier(self, order_id: UUID, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.unassign_courier(cause))

    def mark_picked_up(self, order_id: UUID, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.mark_picked_up(cause))

    def mark_delivered(self, order_id: UUID, cause: Cause) -> Changed[Order]:
        return self.change(Order, order_id, lambda o: o.mark_delivered(cause))

    def cancel_order(self, order_id: UUID, reason: str, cause: Cause) -> Changed[Order]:
        """Cancels the order, unless its courier has collected it: the order learns of a
        pickup from the saga a moment later, so the delivery itself is asked."""
        order = self.get_order(order_id)
        progress = self.delivery_progress
        if order.status in AFTER_ACCEPTANCE and progress and progress.picked_up(order_id):
            raise OrderNotCancellable(f"order {order_id} has been picked up by its courier")
        order.cancel(reason, cause)
        return Changed(order, self.commit(order))

    def rate_order(
        self,
        order_id: UUID,
        *,
        restaurant_stars: int,
        courier_stars: int,
        cause: Cause,
        comment: str = "",
    ) -> Changed[Order]:
        return self.change(
            Order,
            order_id,
            lambda o: o.rate(restaurant_stars, courier_stars, comment, cause),
        )


def _request_of(order: Order) -> tuple[Any, ...]:
    """What a customer asked for, to tell a retried request from a different one."""
    lines = tuple((line.menu_item_id, line.quantity, line.notes) for line in order.lines)
    return (order.restaurant_id, lines, order.delivery_address, order.payment_vpa)
