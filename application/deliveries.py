"""Deliveries context: getting each accepted order from its restaurant to its customer."""

from __future__ import annotations

from uuid import UUID

from application.base import TiffinApplication
from application.results import Changed
from domain.delivery import Delivery, delivery_id_for
from domain.values import Cause, Location


class Deliveries(TiffinApplication):
    def request_delivery(
        self, *, order_id: UUID, pickup: Location, dropoff: Location, cause: Cause
    ) -> Changed[Delivery]:
        delivery = Delivery.request(order_id=order_id, pickup=pickup, dropoff=dropoff, cause=cause)
        return Changed(delivery, self.commit(delivery))

    def get_delivery(self, delivery_id: UUID) -> Delivery:
        return self.load(Delivery, delivery_id)

    def delivery_of_order(self, order_id: UUID) -> Delivery:
        return self.get_delivery(delivery_id_for(order_id))

    def assign_courier(self, delivery_id: UUID, courier_id: str, cause: Cause) -> Changed[Delivery]:
        return self.change(Delivery, delivery_id, lambda d: d.assign(courier_id, cause))

    def unassign_courier(self, delivery_id: UUID, reason: str, cause: Cause) -> Changed[Delivery]:
        return self.change(Delivery, delivery_id, lambda d: d.unassign(reason, cause))

    def pick_up(self, delivery_id: UUID, cause: Cause) -> Changed[Delivery]:
        return self.change(Delivery, delivery_id, lambda d: d.pick_up(cause))

    def deliver(self, delivery_id: UUID, cause: Cause) -> Changed[Delivery]:
        return self.change(Delivery, delivery_id, lambda d: d.deliver(cause))

    def cancel_delivery(self, delivery_id: UUID, reason: str, cause: Cause) -> Changed[Delivery]:
        return self.change(Delivery, delivery_id, lambda d: d.cancel(reason, cause))
