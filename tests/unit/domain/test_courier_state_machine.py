"""Courier: shifts, and carrying at most one delivery at a time."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from domain.courier import Courier, VehicleType, courier_id_for
from domain.errors import (
    CourierBusy,
    CourierOffShift,
    DomainError,
    IllegalTransition,
    InvalidVehicleType,
)
from domain.values import Role
from tests.unit.domain.aggregate_machine import AggregateMachine, cause

RIDER = cause(Role.COURIER, "rider-1")
DELIVERY_IDS = st.sampled_from([UUID(int=1), UUID(int=2), UUID(int=3)])


class CourierMachine(AggregateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.shift = "registered"
        self.carrying: UUID | None = None

    @initialize(
        vehicle=st.sampled_from(["bicycle", "scooter", "motorcycle", "car"]),
        plate=st.text(max_size=25),
    )
    def register(self, vehicle: str, plate: str) -> None:
        courier = Courier.register(
            owner_id=RIDER.actor_id,
            name="Ravi",
            vehicle_type=vehicle,
            license_plate=plate,
            cause=RIDER,
        )
        self.created(courier, "Registered")
        assert courier.id == courier_id_for(RIDER.actor_id)
        assert courier.vehicle_type == vehicle
        assert courier.license_plate == plate.strip().upper()[:20]

    @rule()
    def start_shift(self) -> None:
        refusals = [IllegalTransition] if self.shift == "on_shift" else []
        self.attempt(refusals, lambda: self.aggregate.start_shift(RIDER), "ShiftStarted")
        if not refusals:
            self.shift = "on_shift"

    @rule()
    def end_shift(self) -> None:
        refusals: list[type[DomainError]] = []
        if self.shift != "on_shift":
            refusals.append(IllegalTransition)
        if self.carrying is not None:
            refusals.append(CourierBusy)
        self.attempt(refusals, lambda: self.aggregate.end_shift(RIDER), "ShiftEnded")
        if not refusals:
            self.shift = "off_shift"

    @rule(delivery_id=DELIVERY_IDS)
    def take_delivery(self, delivery_id: UUID) -> None:
        refusals: list[type[DomainError]] = []
        if self.shift != "on_shift":
            refusals.append(CourierOffShift)
        if self.carrying is not None:
            refusals.append(CourierBusy)
        self.attempt(
            refusals, lambda: self.aggregate.take_delivery(delivery_id, RIDER), "DeliveryTaken"
        )
        if not refusals:
            self.carrying = delivery_id

    @rule(delivery_id=DELIVERY_IDS)
    def release_delivery(self, delivery_id: UUID) -> None:
        refusals = [] if self.carrying == delivery_id else [IllegalTransition]
        self.attempt(
            refusals,
            lambda: self.aggregate.release_delivery(delivery_id, RIDER),
            "DeliveryReleased",
        )
        if not refusals:
            self.carrying = None

    @invariant()
    def the_model_matches_the_courier(self) -> None:
        courier = self.aggregate
        assert courier.shift == self.shift
        assert courier.active_delivery_id == self.carrying
        assert courier.on_shift is (self.shift == "on_shift")
        assert courier.available is (self.shift == "on_shift" and self.carrying is None)

    @invariant()
    def a_courier_carrying_a_delivery_is_on_shift(self) -> None:
        if self.aggregate.active_delivery_id is not None:
            assert self.aggregate.on_shift


TestCourierStateMachine = CourierMachine.TestCase
TestCourierStateMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


@pytest.mark.parametrize("vehicle", ["rocket", "", "Bicycle", "BICYCLE"])
def test_registering_a_courier_with_an_unknown_vehicle_type_is_refused(vehicle: str) -> None:
    with pytest.raises(InvalidVehicleType):
        Courier.register(
            owner_id="rider-9", name="Ravi", vehicle_type=vehicle, license_plate="", cause=RIDER
        )


def test_every_vehicle_type_can_be_registered() -> None:
    for vehicle in VehicleType:
        courier = Courier.register(
            owner_id="rider-9",
            name="Ravi",
            vehicle_type=vehicle.value,
            license_plate="",
            cause=RIDER,
        )
        assert courier.vehicle_type is vehicle
