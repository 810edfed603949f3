"""Couriers context: courier profiles, shifts, and the delivery each one carries."""

from __future__ import annotations

from uuid import UUID

from application.base import TiffinApplication
from application.errors import AlreadyExists, ConcurrentChange
from application.results import Changed
from domain.courier import Courier, courier_id_for
from domain.values import Cause


class Couriers(TiffinApplication):
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

    def take_delivery(self, courier_id: UUID, delivery_id: UUID, cause: Cause) -> Changed[Courier]:
        return self.change(Courier, courier_id, lambda c: c.take_delivery(delivery_id, cause))

    def release_delivery(
        self, courier_id: UUID, delivery_id: UUID, cause: Cause
    ) -> Changed[Courier]:
        return self.change(Courier, courier_id, lambda c: c.release_delivery(delivery_id, cause))
