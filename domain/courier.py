"""Courier aggregate: a rider's profile, shift, and the one delivery they may carry."""

from __future__ import annotations

from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import CourierBusy, CourierOffShift, IllegalTransition, InvalidVehicleType
from domain.values import Cause, require_text

COURIER_NAMESPACE = uuid5(NAMESPACE_URL, "https://tiffin.invalid/couriers")


def courier_id_for(owner_id: str) -> UUID:
    """A user has at most one courier profile, whose id derives from the user's."""
    return uuid5(COURIER_NAMESPACE, owner_id)


class VehicleType(StrEnum):
    BICYCLE = "bicycle"
    SCOOTER = "scooter"
    MOTORCYCLE = "motorcycle"
    CAR = "car"


class ShiftStatus(StrEnum):
    REGISTERED = "registered"
    ON_SHIFT = "on_shift"
    OFF_SHIFT = "off_shift"


class Courier(Aggregate):
    @classmethod
    def register(
        cls, *, owner_id: str, name: str, vehicle_type: str, license_plate: str, cause: Cause
    ) -> Courier:
        if vehicle_type not in VehicleType.__members__.values():
            allowed = ", ".join(VehicleType)
            raise InvalidVehicleType(f"vehicle type must be one of {allowed}, got {vehicle_type!r}")
        return cls(
            owner_id=require_text(owner_id, "owner id"),
            name=require_text(name, "name"),
            vehicle_type=str(vehicle_type),
            license_plate=license_plate.strip().upper()[:20],
            cause=cause,
        )

    @staticmethod
    def create_id(owner_id: str) -> UUID:
        return courier_id_for(owner_id)

    @event("Registered")
    def __init__(
        self, *, owner_id: str, name: str, vehicle_type: str, license_plate: str, cause: Cause
    ) -> None:
        self.owner_id = owner_id
        self.name = name
        self.vehicle_type = VehicleType(vehicle_type)
        self.license_plate = license_plate
        self.shift = ShiftStatus.REGISTERED
        self.active_delivery_id: UUID | None = None

    @property
    def on_shift(self) -> bool:
        return self.shift is ShiftStatus.ON_SHIFT

    @property
    def available(self) -> bool:
        return self.on_shift and self.active_delivery_id is None

    def start_shift(self, cause: Cause) -> None:
        if self.on_shift:
            raise IllegalTransition("courier", "start the shift of", self.shift)
        self._shift_started(cause=cause)

    @event("ShiftStarted")
    def _shift_started(self, cause: Cause) -> None:
        self.shift = ShiftStatus.ON_SHIFT

    def end_shift(self, cause: Cause) -> None:
        if not self.on_shift:
            raise IllegalTransition("courier", "end the shift of", self.shift)
        if self.active_delivery_id is not None:
            raise CourierBusy(f"courier {self.id} is carrying delivery {self.active_delivery_id}")
        self._shift_ended(cause=cause)

    @event("ShiftEnded")
    def _shift_ended(self, cause: Cause) -> None:
        self.shift = ShiftStatus.OFF_SHIFT

    def take_delivery(self, delivery_id: UUID, cause: Cause) -> None:
        if not self.on_shift:
            raise CourierOffShift(f"courier {self.id} is not on shift")
        if self.active_delivery_id is not None:
            raise CourierBusy(f"courier {self.id} is carrying delivery {self.active_delivery_id}")
        self._delivery_taken(delivery_id=delivery_id, cause=cause)

    @event("DeliveryTaken")
    def _delivery_taken(self, delivery_id: UUID, cause: Cause) -> None:
        self.active_delivery_id = delivery_id

    def release_delivery(self, delivery_id: UUID, cause: Cause) -> None:
        if self.active_delivery_id != delivery_id:
            raise IllegalTransition(
                "courier", f"release delivery {delivery_id} from", "not carrying it"
            )
        self._delivery_released(delivery_id=delivery_id, cause=cause)

    @event("DeliveryReleased")
    def _delivery_released(self, delivery_id: UUID, cause: Cause) -> None:
        self.active_delivery_id = None
