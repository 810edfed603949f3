"""Order: payment, acceptance, preparation, pickup, delivery, cancellation and rating."""

from __future__ import annotations

from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from domain.errors import (
    AlreadyRated,
    DomainError,
    IllegalTransition,
    InvalidPrepMinutes,
    InvalidStars,
    InvalidText,
    OrderNotCancellable,
)
from domain.order import DeliveryAddress, Order, order_id_for
from domain.restaurant import LineRequest
from domain.values import Location, Money, Role
from tests.unit.domain.aggregate_machine import (
    TEXTS,
    AggregateMachine,
    cause,
    is_blank,
    mostly,
    online_restaurant,
)

CUSTOMER = cause(Role.CUSTOMER, "customer-1")
KITCHEN = cause(Role.RESTAURANT, "owner-1")
SAGA = cause(Role.SYSTEM, "order-saga")
HOME = DeliveryAddress("48 Residency Road", "Bengaluru", "560025", Location(12.9667, 77.6067))

# Who may cancel, and while the order is in which status. Couriers, analysts and auditors never.
BEFORE_ACCEPTANCE = {"awaiting_payment", "pending_acceptance"}
BEFORE_PICKUP = BEFORE_ACCEPTANCE | {"accepted", "ready_for_pickup"}
MAY_CANCEL = {
    Role.CUSTOMER: BEFORE_ACCEPTANCE,
    Role.RESTAURANT: BEFORE_PICKUP,
    Role.ADMIN: BEFORE_PICKUP,
    Role.SYSTEM: BEFORE_PICKUP,
}

PREP_MINUTES = mostly(st.integers(min_value=1, max_value=240), st.sampled_from([0, 241]))
STARS = mostly(st.integers(min_value=1, max_value=5), st.sampled_from([0, 6]))
# Mostly the two roles whose rights are narrowest: customers, and couriers who have none.
CANCELLERS = mostly(st.sampled_from([Role.CUSTOMER, Role.COURIER]), st.sampled_from(Role))
COURIER_IDS = mostly(st.sampled_from(["courier-1", "courier-2"]), st.sampled_from(["", "  "]))


class OrderMachine(AggregateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.status = "awaiting_payment"
        self.courier_id: str | None = None
        self.prep_minutes: int | None = None
        self.closing_reason: str | None = None
        self.rating: tuple[int, int, str] | None = None
        self.lines: list[tuple[UUID, str, int, int, str]] = []  # item, name, price, qty, notes
        self.fee = 0

    @initialize(
        prices=st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=4),
        picks=st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=3),
                st.integers(min_value=1, max_value=50),
                st.text(max_size=10),
            ),
            min_size=1,
            max_size=5,
        ),
        fee=st.integers(min_value=0, max_value=10_000),
        idempotency_key=st.none() | st.text(min_size=1, max_size=10),
    )
    def place(
        self,
        prices: list[int],
        picks: list[tuple[int, int, str]],
        fee: int,
        idempotency_key: str | None,
    ) -> None:
        restaurant = online_restaurant(KITCHEN)
        items = [
            restaurant.add_menu_item(name=f"dish {n}", price=Money(price), cause=KITCHEN)
            for n, price in enumerate(prices)
        ]
        requests = []
        for index, quantity, notes in picks:
            item = items[index % len(items)]
            requests.append(LineRequest(item.id, quantity, notes))
            self.lines.append((item.id, item.name, item.price.minor, quantity, notes.strip()))
        self.fee = fee
        order = Order.place(
            customer_id=CUSTOMER.actor_id,
            restaurant=restaurant,
            requests=requests,
            delivery_address=HOME,
            delivery_fee=Money(fee),
            payment_vpa="asha@okbank",
            cause=CUSTOMER,
            idempotency_key=idempotency_key,
        )
        self.created(order, "Placed")
        assert order.restaurant_id == restaurant.id
        if idempotency_key is not None:
            assert order.id == order_id_for(CUSTOMER.actor_id, idempotency_key)

    def status_must_be(self, *allowed: str) -> list[type[DomainError]]:
        return [] if self.status in allowed else [IllegalTransition]

    @rule()
    def confirm_payment(self) -> None:
        refusals = self.status_must_be("awaiting_payment")
        self.attempt(refusals, lambda: self.aggregate.confirm_payment(SAGA), "Paid")
        if not refusals:
            self.status = "pending_acceptance"

    @rule(prep_minutes=PREP_MINUTES)
    def accept(self, prep_minutes: int) -> None:
        refusals = self.status_must_be("pending_acceptance")
        if not 1 <= prep_minutes <= 240:
            refusals.append(InvalidPrepMinutes)
        self.attempt(refusals, lambda: self.aggregate.accept(prep_minutes, KITCHEN), "Accepted")
        if not refusals:
            self.status, self.prep_minutes = "accepted", prep_minutes

    @rule(reason=TEXTS)
    def reject(self, reason: str) -> None:
        refusals = self.status_must_be("pending_acceptance")
        if is_blank(reason):
            refusals.append(InvalidText)
        self.attempt(refusals, lambda: self.aggregate.reject(reason, KITCHEN), "Rejected")
        if not refusals:
            self.status, self.closing_reason = "rejected", reason.strip()

    @rule()
    def mark_ready(self) -> None:
        refusals = self.status_must_be("accepted")
        self.attempt(refusals, lambda: self.aggregate.mark_ready(KITCHEN), "ReadyForPickup")
        if not refusals:
            self.status = "ready_for_pickup"

    @rule(courier_id=COURIER_IDS)
    def assign_courier(self, courier_id: str) -> None:
        refusals = self.status_must_be("accepted", "ready_for_pickup")
        if is_blank(courier_id):
            refusals.append(InvalidText)
        self.attempt(
            refusals, lambda: self.aggregate.assign_courier(courier_id, SAGA), "CourierAssigned"
        )
        if not refusals:
            self.courier_id = courier_id

    @rule()
    def unassign_courier(self) -> None:
        refusals = self.status_must_be(*BEFORE_PICKUP)
        if self.courier_id is None:
            refusals = [IllegalTransition]
        self.attempt(refusals, lambda: self.aggregate.unassign_courier(SAGA), "CourierUnassigned")
        if not refusals:
            self.courier_id = None

    @rule()
    def mark_picked_up(self) -> None:
        refusals = self.status_must_be("ready_for_pickup")
        if self.courier_id is None:
            refusals = [IllegalTransition]
        courier = cause(Role.COURIER, self.courier_id or "courier-1")
        self.attempt(refusals, lambda: self.aggregate.mark_picked_up(courier), "PickedUp")
        if not refusals:
            self.status = "picked_up"

    @rule()
    def mark_delivered(self) -> None:
        refusals = self.status_must_be("picked_up")
        courier = cause(Role.COURIER, self.courier_id or "courier-1")
        self.attempt(refusals, lambda: self.aggregate.mark_delivered(courier), "Delivered")
        if not refusals:
            self.status = "delivered"

    @rule(role=CANCELLERS, reason=TEXTS)
    def cancel(self, role: Role, reason: str) -> None:
        refusals: list[type[DomainError]] = []
        if self.status not in MAY_CANCEL.get(role, set()):
            refusals.append(OrderNotCancellable)
        if is_blank(reason):
            refusals.append(InvalidText)
        canceller = cause(role, f"{role}-1")
        self.attempt(refusals, lambda: self.aggregate.cancel(reason, canceller), "Cancelled")
        if not refusals:
            self.status, self.closing_reason = "cancelled", reason.strip()

    @precondition(lambda self: self.status not in BEFORE_ACCEPTANCE)
    @rule(role=CANCELLERS, reason=TEXTS)
    def cancel_late(self, role: Role, reason: str) -> None:
        """Early cancels usually succeed and end the order, so late ones get a rule of their own."""
        self.cancel(role, reason)

    @rule(restaurant_stars=STARS, courier_stars=STARS, comment=st.text(max_size=20))
    def rate(self, restaurant_stars: int, courier_stars: int, comment: str) -> None:
        refusals = self.status_must_be("delivered")
        if self.rating is not None:
            refusals = [AlreadyRated]
        if not (1 <= restaurant_stars <= 5 and 1 <= courier_stars <= 5):
            refusals.append(InvalidStars)
        self.attempt(
            refusals,
            lambda: self.aggregate.rate(restaurant_stars, courier_stars, comment, CUSTOMER),
            "Rated",
        )
        if not refusals:
            self.rating = (restaurant_stars, courier_stars, comment.strip())

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The next step of the happy path (with mostly good input), to reach late statuses."""
        match self.status:
            case "awaiting_payment":
                self.confirm_payment()
            case "pending_acceptance":
                self.accept(data.draw(PREP_MINUTES))
            case "accepted":
                self.mark_ready()
            case "ready_for_pickup" if self.courier_id is None:
                self.assign_courier(data.draw(COURIER_IDS))
            case "ready_for_pickup":
                self.mark_picked_up()
            case "picked_up":
                self.mark_delivered()
            case _:  # delivered (once rated, a second rating), rejected or cancelled
                self.rate(data.draw(STARS), data.draw(STARS), " hot and on time ")

    @invariant()
    def the_model_matches_the_order(self) -> None:
        order = self.aggregate
        assert order.status == self.status
        assert order.courier_id == self.courier_id
        assert order.prep_minutes == self.prep_minutes
        assert order.closing_reason == self.closing_reason
        rating = order.rating
        actual_rating = (
            None
            if rating is None
            else (
                rating.restaurant_stars,
                rating.courier_stars,
                rating.comment,
            )
        )
        assert actual_rating == self.rating
        actual_lines = [
            (line.menu_item_id, line.name, line.unit_price.minor, line.quantity, line.notes)
            for line in order.lines
        ]
        assert actual_lines == self.lines
        subtotal = sum(price * quantity for _, _, price, quantity, _ in self.lines)
        assert order.subtotal == Money(subtotal)
        assert order.delivery_fee == Money(self.fee)
        assert order.total == Money(subtotal + self.fee)


TestOrderStateMachine = OrderMachine.TestCase
TestOrderStateMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
