"""Delivery aggregate: getting one order from its restaurant to its customer."""

from __future__ import annotations

from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import IllegalTransition
from domain.values import Cause, Location, require_text

DELIVERY_NAMESPACE = uuid5(NAMESPACE_URL, "https://tiffin.invalid/deliveries")


def delivery_id_for(order_id: UUID) -> UUID:
    """Each order has at most one delivery, whose id derives from the order's."""
    return uuid5(DELIVERY_NAMESPACE, str(order_id))


class DeliveryStatus(StrEnum):
    REQUESTED = "requested"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


AWAITING_COURIER = frozenset({DeliveryStatus.REQUESTED, DeliveryStatus.UNASSIGNED})
BEFORE_PICKUP = AWAITING_COURIER | {DeliveryStatus.ASSIGNED}
COLLECTED = frozenset({DeliveryStatus.PICKED_UP, DeliveryStatus.DELIVERED})


class Delivery(Aggregate):
    @classmethod
    def request(
        cls, *, order_id: UUID, pickup: Location, dropoff: Location, cause: Cause
    ) -> Delivery:
        return cls(order_id=order_id, pickup=pickup, dropoff=dropoff, cause=cause)

    @staticmethod
    def create_id(order_id: UUID) -> UUID:
        return delivery_id_for(order_id)

    @event("Requested")
    def __init__(
        self, *, order_id: UUID, pickup: Location, dropoff: Location, cause: Cause
    ) -> None:
        self.order_id = order_id
        self.pickup = pickup
        self.dropoff = dropoff
        self.status = DeliveryStatus.REQUESTED
        self.courier_id: str | None = None

    def _require(self, allowed: frozenset[DeliveryStatus], action: str) -> None:
        if self.status not in allowed:
            raise IllegalTransition("delivery", action, self.status)

    def assign(self, courier_id: str, cause: Cause) -> None:
        self._require(AWAITING_COURIER, "assign")
        self._assigned(
            order_id=self.order_id, courier_id=require_text(courier_id, "courier id"), cause=cause
        )

    @event("Assigned")
    def _assigned(self, order_id: UUID, courier_id: str, cause: Cause) -> None:
        self.status = DeliveryStatus.ASSIGNED
        self.courier_id = courier_id

    def unassign(self, reason: str, cause: Cause) -> None:
        self._require(frozenset({DeliveryStatus.ASSIGNED}), "unassign")
        self._unassigned(
            order_id=self.order_id, reason=require_text(reason, "reason", 500), cause=cause
        )

    @event("Unassigned")
    def _unassigned(self, order_id: UUID, reason: str, cause: Cause) -> None:
        self.status = DeliveryStatus.UNASSIGNED
        self.courier_id = None

    def pick_up(self, cause: Cause) -> None:
        self._require(frozenset({DeliveryStatus.ASSIGNED}), "pick up")
        self._picked_up(order_id=self.order_id, cause=cause)

    @event("PickedUp")
    def _picked_up(self, order_id: UUID, cause: Cause) -> None:
        self.status = DeliveryStatus.PICKED_UP

    def deliver(self, cause: Cause) -> None:
        self._require(frozenset({DeliveryStatus.PICKED_UP}), "deliver")
        self._delivered(order_id=self.order_id, cause=cause)

    @event("Delivered")
    def _delivered(self, order_id: UUID, cause: Cause) -> None:
        self.status = DeliveryStatus.DELIVERED

    def cancel(self, reason: str, cause: Cause) -> None:
        self._require(BEFORE_PICKUP, "cancel")
        self._cancelled(
            order_id=self.order_id, reason=require_text(reason, "reason", 500), cause=cause
        )

    def recall(self, reason: str, cause: Cause) -> None:
        """Calls back a delivery under way: its order was cancelled while the courier, not yet
        known to have collected it, was picking it up. The food goes back; the courier is free."""
        self._require(frozenset({DeliveryStatus.PICKED_UP}), "recall")
        self._recalled(
            order_id=self.order_id, reason=require_text(reason, "reason", 500), cause=cause
        )

    @event("Recalled")
    def _recalled(self, order_id: UUID, reason: str, cause: Cause) -> None:
        self.status = DeliveryStatus.CANCELLED

    @event("Cancelled")
    def _cancelled(self, order_id: UUID, reason: str, cause: Cause) -> None:
        self.status = DeliveryStatus.CANCELLED
