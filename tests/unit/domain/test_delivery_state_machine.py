"""Delivery: assigned, maybe unassigned and reassigned, picked up and delivered, or cancelled."""

from __future__ import annotations

from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from domain.delivery import Delivery, delivery_id_for
from domain.errors import DomainError, IllegalTransition, InvalidText
from domain.values import Location, Role
from tests.unit.domain.aggregate_machine import TEXTS, AggregateMachine, cause, is_blank, mostly

DISPATCH = cause(Role.SYSTEM, "dispatcher")
ORDER_ID = UUID(int=42)
COURIER_IDS = mostly(st.sampled_from(["courier-1", "courier-2"]), st.sampled_from(["", "  "]))
LOCATIONS = st.builds(
    Location,
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)


class DeliveryMachine(AggregateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.status = "requested"
        self.courier_id: str | None = None

    @initialize(pickup=LOCATIONS, dropoff=LOCATIONS)
    def request(self, pickup: Location, dropoff: Location) -> None:
        delivery = Delivery.request(
            order_id=ORDER_ID, pickup=pickup, dropoff=dropoff, cause=DISPATCH
        )
        self.created(delivery, "Requested")
        assert delivery.id == delivery_id_for(ORDER_ID)
        assert (delivery.pickup, delivery.dropoff) == (pickup, dropoff)

    def status_must_be(self, *allowed: str) -> list[type[DomainError]]:
        return [] if self.status in allowed else [IllegalTransition]

    @rule(courier_id=COURIER_IDS)
    def assign(self, courier_id: str) -> None:
        refusals = self.status_must_be("requested", "unassigned")
        if is_blank(courier_id):
            refusals.append(InvalidText)
        self.attempt(refusals, lambda: self.aggregate.assign(courier_id, DISPATCH), "Assigned")
        if not refusals:
            self.status, self.courier_id = "assigned", courier_id

    @rule(reason=TEXTS)
    def unassign(self, reason: str) -> None:
        refusals = self.status_must_be("assigned")
        if is_blank(reason):
            refusals.append(InvalidText)
        self.attempt(refusals, lambda: self.aggregate.unassign(reason, DISPATCH), "Unassigned")
        if not refusals:
            self.status, self.courier_id = "unassigned", None

    @rule()
    def pick_up(self) -> None:
        refusals = self.status_must_be("assigned")
        self.attempt(refusals, lambda: self.aggregate.pick_up(DISPATCH), "PickedUp")
        if not refusals:
            self.status = "picked_up"

    @rule()
    def deliver(self) -> None:
        refusals = self.status_must_be("picked_up")
        self.attempt(refusals, lambda: self.aggregate.deliver(DISPATCH), "Delivered")
        if not refusals:
            self.status = "delivered"

    @rule(reason=TEXTS)
    def cancel(self, reason: str) -> None:
        refusals = self.status_must_be("requested", "assigned", "unassigned")
        if is_blank(reason):
            refusals.append(InvalidText)
        self.attempt(refusals, lambda: self.aggregate.cancel(reason, DISPATCH), "Cancelled")
        if not refusals:
            self.status = "cancelled"

    @rule(reason=TEXTS)
    def recall(self, reason: str) -> None:
        refusals = self.status_must_be("picked_up")
        if is_blank(reason):
            refusals.append(InvalidText)
        self.attempt(refusals, lambda: self.aggregate.recall(reason, DISPATCH), "Recalled")
        if not refusals:
            self.status = "cancelled"

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The next step of the happy path (with mostly good input), to reach delivered."""
        match self.status:
            case "requested" | "unassigned":
                self.assign(data.draw(COURIER_IDS))
            case "assigned":
                self.pick_up()
            case _:
                self.deliver()

    @invariant()
    def the_model_matches_the_delivery(self) -> None:
        delivery = self.aggregate
        assert delivery.status == self.status
        assert delivery.courier_id == self.courier_id
        assert delivery.order_id == ORDER_ID

    @invariant()
    def a_delivery_being_carried_has_a_courier(self) -> None:
        if self.aggregate.status in {"assigned", "picked_up", "delivered"}:
            assert self.aggregate.courier_id is not None


TestDeliveryStateMachine = DeliveryMachine.TestCase
TestDeliveryStateMachine.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None
)
