"""Deliveries context: couriers, and getting each accepted order from its restaurant to its
customer.

Couriers live here, beside the deliveries they carry, because an assignment changes both at
once: the delivery gets its courier and the courier its one active delivery, in one atomic
save (with the upstream event's tracking, when the saga assigns). A courier changed meanwhile
makes the save conflict instead of carrying two deliveries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from uuid import UUID

from application.base import Reaction, TiffinProcess, saga_cause
from application.errors import AlreadyExists, ConcurrentChange
from application.locations import LocationStore, choose_courier
from application.results import Changed
from application.roster import CourierRoster
from domain.courier import Courier, courier_id_for
from domain.delivery import (
    AWAITING_COURIER,
    BEFORE_PICKUP,
    COLLECTED,
    Delivery,
    DeliveryStatus,
    delivery_id_for,
)
from domain.errors import OrderClosed
from domain.order import Order, OrderStatus
from domain.values import Cause, Location

log = logging.getLogger(__name__)
CLOSED_ORDERS = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})


class OrderLookup(Protocol):
    def get_order(self, order_id: UUID, version: int | None = None) -> Order: ...


class Deliveries(TiffinProcess):
    """Follows Ordering: an accepted order gets a delivery and the nearest free courier; a
    cancelled one has its delivery cancelled and its courier freed."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        orders: OrderLookup,
        locations: LocationStore,
    ) -> None:
        super().__init__(env)
        self.orders = orders
        self.locations = locations
        self.roster = CourierRoster(self.recorder, self.mapper)

    def reactions(self) -> Mapping[str, Reaction]:
        return {
            "Order.Accepted": self._deliver_accepted_order,
            "Order.Cancelled": self._cancel_for_order,
        }

    def _deliver_accepted_order(self, accepted: Any) -> Iterable[Delivery | Courier]:
        order = self.orders.get_order(accepted.originator_id)
        if order.status in CLOSED_ORDERS:  # cancelled since: there is nothing to deliver
            log.info("no delivery for order %s: it was %s meanwhile", order.id, order.status)
            return
        cause = saga_cause(accepted)
        delivery = Delivery.request(
            order_id=order.id,
            pickup=order.pickup,
            dropoff=order.delivery_address.location,
            cause=cause,
        )
        yield delivery
        if courier := self._assign_nearest(delivery, cause):
            yield courier

    def _cancel_for_order(self, cancelled: Any) -> Iterable[Delivery | Courier | None]:
        delivery = self.lookup(Delivery, delivery_id_for(cancelled.originator_id))
        if delivery is None:
            return
        reason, cause = cancelled.reason, saga_cause(cancelled)
        if delivery.status in BEFORE_PICKUP:
            yield from self._ending(delivery, lambda: delivery.cancel(reason, cause), cause)
        elif delivery.status is DeliveryStatus.PICKED_UP:  # picked up as it was cancelled
            yield from self._ending(delivery, lambda: delivery.recall(reason, cause), cause)

    def _assign_nearest(self, delivery: Delivery, cause: Cause) -> Courier | None:
        """Gives the delivery the nearest free courier, if anyone is free; both change."""
        candidates = self.roster.available()
        positions = self.locations.latest(c.courier_id for c in candidates)
        while chosen := choose_courier(delivery.pickup, candidates, positions):
            courier = self.get_courier(UUID(chosen.courier_id))
            if courier.available:
                courier.take_delivery(delivery.id, cause)
                delivery.assign(chosen.courier_id, cause)
                return courier
            candidates = [c for c in candidates if c is not chosen]
        return None

    def _ending(
        self, delivery: Delivery, end: Callable[[], None], cause: Cause
    ) -> tuple[Delivery, Courier | None]:
        """Ends the delivery's hold on its courier (delivered, cancelled, unassigned...): the
        delivery and the freed courier change together."""
        courier = self._courier_of(delivery)
        end()
        if courier is not None:
            courier.release_delivery(delivery.id, cause)
        return delivery, courier

    def _require_open_order(self, delivery: Delivery) -> None:
        """A cancelled order's delivery stops, even before the saga has cancelled it."""
        status = self.orders.get_order(delivery.order_id).status
        if status in CLOSED_ORDERS:
            raise OrderClosed(f"order {delivery.order_id} was {status}: take the food back")

    def _courier_of(self, delivery: Delivery) -> Courier | None:
        return None if delivery.courier_id is None else self.get_courier(UUID(delivery.courier_id))

    # Deliveries

    def request_delivery(
        self, *, order_id: UUID, pickup: Location, dropoff: Location, cause: Cause
    ) -> Changed[Delivery]:
        delivery = Delivery.request(order_id=order_id, pickup=pickup, dropoff=dropoff, cause=cause)
        return Changed(delivery, self.commit(delivery))

    def get_delivery(self, delivery_id: UUID) -> Delivery:
        return self.load(Delivery, delivery_id)

    def delivery_of_order(self, order_id: UUID) -> Delivery:
        return self.get_delivery(delivery_id_for(order_id))

    def retry_assignment(self, delivery_id: UUID, cause: Cause) -> bool:
        """Tries again to find a courier for a waiting delivery; False if still nobody is free."""
        delivery = self.get_delivery(delivery_id)
        if delivery.status not in AWAITING_COURIER:
            return True
        courier = self._assign_nearest(delivery, cause)
        if courier is None:
            return False
        self.commit(delivery, courier)
        return True

    def assign_courier(self, delivery_id: UUID, courier_id: str, cause: Cause) -> Changed[Delivery]:
        """Gives a waiting delivery to this courier (who must be on shift and free)."""
        delivery = self.get_delivery(delivery_id)
        courier = self.get_courier(UUID(courier_id))
        courier.take_delivery(delivery.id, cause)
        delivery.assign(courier_id, cause)
        return Changed(delivery, self.commit(delivery, courier))

    def unassign_courier(self, delivery_id: UUID, reason: str, cause: Cause) -> Changed[Delivery]:
        delivery = self.get_delivery(delivery_id)
        changed = self._ending(delivery, lambda: delivery.unassign(reason, cause), cause)
        return Changed(delivery, self.commit(*changed))

    def picked_up(self, order_id: UUID) -> bool:
        delivery = self.lookup(Delivery, delivery_id_for(order_id))
        return delivery is not None and delivery.status in COLLECTED

    def pick_up(self, delivery_id: UUID, cause: Cause) -> Changed[Delivery]:
        delivery = self.get_delivery(delivery_id)
        self._require_open_order(delivery)
        delivery.pick_up(cause)
        return Changed(delivery, self.commit(delivery))

    def deliver(self, delivery_id: UUID, cause: Cause) -> Changed[Delivery]:
        """The courier handed the order over, and is free for the next one."""
        delivery = self.get_delivery(delivery_id)
        self._require_open_order(delivery)
        changed = self._ending(delivery, lambda: delivery.deliver(cause), cause)
        return Changed(delivery, self.commit(*changed))

    def cancel_delivery(self, delivery_id: UUID, reason: str, cause: Cause) -> Changed[Delivery]:
        delivery = self.get_delivery(delivery_id)
        changed = self._ending(delivery, lambda: delivery.cancel(reason, cause), cause)
        return Changed(delivery, self.commit(*changed))

    # Couriers

    def register_courier(
        self, *, owner_id: str, name: str, vehicle_type: str, cause: Cause, license_plate: str = ""
    ) -> Changed[Courier]:
        courier = Courier.register(
            owner_id=owner_id,
            name=name,
            vehicle_type=vehicle_type,
            license_plate=license_plate,
            cause=cause,
        )
        try:
            return Changed(courier, self.commit(courier))
        except ConcurrentChange:
            raise AlreadyExists(f"user {owner_id!r} already has a courier profile") from None

    def get_courier(self, courier_id: UUID) -> Courier:
        return self.load(Courier, courier_id)

    def courier_of_owner(self, owner_id: str) -> Courier:
        return self.get_courier(courier_id_for(owner_id))

    def set_on_shift(self, courier_id: UUID, on_shift: bool, cause: Cause) -> Changed[Courier]:
        """Starts or ends a shift; asking for the current state is a no-op."""
        courier = self.get_courier(courier_id)
        if courier.on_shift == on_shift:
            return Changed(courier, None)
        if on_shift:
            courier.start_shift(cause)
        else:
            courier.end_shift(cause)
        return Changed(courier, self.commit(courier))
