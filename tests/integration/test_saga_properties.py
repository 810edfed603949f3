"""The order saga under random interleavings of every party's commands and its own processing.

A hypothesis state machine over one restaurant, two couriers on shift and up to three orders,
on the embedded backend. The customer, the restaurant, the couriers, an admin and the UPI
gateway (through signed webhooks) act in any order, time passes (deadlines fire), and the saga
(every process manager, the deadline scheduler and the payment outbox) catches up only when the
``process`` rule says so, or one of its workers takes a pass alone: commands race the saga's
reactions, and its workers each other, as they would in production. Commands the domain
refuses in the current state are skipped; anything else fails the test.

After every step: no payment is captured or refunded twice, nor refunded before its capture;
a courier carries at most one delivery, and exactly the one the deliveries say it carries; an
order on its way or delivered is paid. Once the saga has caught up at the end: money taken for
a closed order went back exactly once, a delivered order kept its money, a cancelled order's
delivery is cancelled, and no courier is left carrying a delivery of a finished order.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from application import deadlines
from application.errors import NotFound
from application.runtime import Component, Runtime
from application.settings import load_settings
from application.webhooks import WebhookOutcome
from domain.delivery import Delivery, DeliveryStatus, delivery_id_for
from domain.errors import DomainError
from domain.order import OrderStatus
from domain.payment import CAPTURABLE, Payment, PaymentStatus, payment_id_for
from domain.values import Cause, Role
from tests.scenario import (
    ADMIN,
    HAPPY_PATH,
    Kitchen,
    ManualClock,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    place,
)
from wiring.bootstrap import Tiffin, bootstrap

MAX_ORDERS = 3  # one more than couriers: some order may wait for a courier to come free
REFUSALS = (DomainError, NotFound)
CARRIED = frozenset({DeliveryStatus.ASSIGNED, DeliveryStatus.PICKED_UP})
ON_THE_ROAD = frozenset({OrderStatus.PICKED_UP, OrderStatus.DELIVERED})
CLOSED = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})
FINAL = CLOSED | {OrderStatus.DELIVERED}
MONEY_SETTLED = frozenset({PaymentStatus.FAILED, PaymentStatus.EXPIRED, PaymentStatus.REFUNDED})

SAGA_AND_SUMMARY = ("ordering", "payments", "deliveries", "deadlines", "outbox", "order_summary")


@dataclass(frozen=True)
class Webhook:
    """A gateway event the platform applied, kept to deliver it again."""

    payment_id: UUID
    kind: str
    event_id: str


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# About 15 s on two cores. The explain phase is left out: on a failure it replays the shrunk
# example so often that reporting takes minutes instead of about one.
@settings(
    max_examples=120,
    stateful_step_count=50,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
class OrderSagaMachine(RuleBasedStateMachine):
    orders = Bundle("orders")
    webhooks = Bundle("webhooks")

    def __init__(self) -> None:
        super().__init__()
        self.data_dir = Path(tempfile.mkdtemp(prefix="tiffin-saga-properties-"))
        self.settings = load_settings(
            {"TIFFIN_DATA_DIR": str(self.data_dir), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
        )
        self.clock = ManualClock()
        self.tiffin: Tiffin = bootstrap(self.settings, clock=self.clock)
        self.saga: Runtime = self.tiffin.runtime(SAGA_AND_SUMMARY)
        self.kitchen: Kitchen = open_kitchen(self.tiffin)
        self.riders: dict[str, Cause] = {}
        for _ in range(2):
            courier, rider = courier_on_shift(self.tiffin)
            self.riders[str(courier.id)] = rider
        self.customers: dict[UUID, Cause] = {}

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:  # else a step failed: its error is the one to report
                self.settle()
                self.check_settled()
        finally:
            self.saga.stop()
            self.tiffin.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # The parties' commands

    @initialize(target=orders)
    def customer_places_a_first_order(self) -> UUID:
        return self.new_order()

    @precondition(lambda self: len(self.customers) < MAX_ORDERS)
    @rule(target=orders)
    def customer_places_an_order(self) -> UUID:
        return self.new_order()

    @rule(target=webhooks, order_id=orders)
    def gateway_captures(self, order_id: UUID) -> MultipleResults[Webhook]:
        return self.gateway_says(order_id, "payment.captured", lambda p: p.status in CAPTURABLE)

    @rule(target=webhooks, order_id=orders)
    def gateway_fails(self, order_id: UUID) -> MultipleResults[Webhook]:
        return self.gateway_says(
            order_id, "payment.failed", lambda p: p.status is PaymentStatus.PENDING
        )

    @rule(target=webhooks, order_id=orders)
    def gateway_refunds(self, order_id: UUID) -> MultipleResults[Webhook]:
        return self.gateway_says(
            order_id, "refund.processed", lambda p: p.status is PaymentStatus.REFUND_PENDING
        )

    @rule(webhook=webhooks)
    def gateway_delivers_a_webhook_again(self, webhook: Webhook) -> None:
        payment = self.tiffin.payments.get_payment(webhook.payment_id)
        before = names(self.tiffin.payments.history(payment.id))
        outcome = gateway_says(self.tiffin, payment, webhook.kind, webhook.event_id)
        assert outcome is WebhookOutcome.DUPLICATE, f"{webhook} again was {outcome}"
        assert names(self.tiffin.payments.history(payment.id)) == before

    @rule()
    def payment_expiry_passes(self) -> None:
        self.time_passes(self.settings.payment_expiry_seconds + 1)

    @rule()
    def acceptance_timeout_passes(self) -> None:
        self.time_passes(self.settings.acceptance_timeout_seconds + 1)

    @rule(order_id=orders)
    def restaurant_accepts(self, order_id: UUID) -> None:
        self.attempt(lambda: self.tiffin.ordering.accept_order(order_id, 10, self.kitchen.owner))

    @rule(order_id=orders)
    def restaurant_rejects(self, order_id: UUID) -> None:
        self.attempt(
            lambda: self.tiffin.ordering.reject_order(order_id, "out of rice", self.kitchen.owner)
        )

    @rule(order_id=orders)
    def restaurant_marks_ready(self, order_id: UUID) -> None:
        self.attempt(lambda: self.tiffin.ordering.mark_ready(order_id, self.kitchen.owner))

    @rule(order_id=orders)
    def customer_cancels(self, order_id: UUID) -> None:
        customer = self.customers[order_id]
        self.attempt(
            lambda: self.tiffin.ordering.cancel_order(order_id, "changed my mind", customer)
        )

    @rule(order_id=orders)
    def admin_cancels(self, order_id: UUID) -> None:
        self.attempt(lambda: self.tiffin.ordering.cancel_order(order_id, "kitchen fire", ADMIN))

    @rule(order_id=orders)
    def courier_picks_up(self, order_id: UUID) -> None:
        self.attempt(lambda: self.courier_does(order_id, self.tiffin.deliveries.pick_up))

    @rule(order_id=orders)
    def courier_delivers(self, order_id: UUID) -> None:
        self.attempt(lambda: self.courier_does(order_id, self.tiffin.deliveries.deliver))

    @rule()
    def process(self) -> None:
        self.saga.run_until_idle()

    @rule(worker=st.sampled_from(SAGA_AND_SUMMARY))
    def one_saga_worker_runs(self, worker: str) -> None:
        """One of the saga's workers takes a pass alone, the others lagging behind: in
        production each runs on its own, and none waits for the others."""
        self.worker(worker).run_once()

    @rule(order_id=orders, until=st.sampled_from(HAPPY_PATH[1:]))
    def the_order_moves_on(self, order_id: UUID, until: OrderStatus) -> None:
        """Whoever the order waits for does their part and the saga keeps up, until the order
        is ``until``, or is closed, or waits for what nobody does here (a free courier, say).

        Without it, uniformly drawn rules almost never take an order past acceptance: each
        stage needs the right party's command and a ``process`` step before a cancel, a
        failure or a deadline closes it.
        """
        self.process()
        while (status := self.status_of(order_id)) in HAPPY_PATH[: HAPPY_PATH.index(until)]:
            version = self.tiffin.ordering.get_order(order_id).version
            self.next_step(order_id, status)
            self.process()
            if self.tiffin.ordering.get_order(order_id).version == version:
                return

    # Invariants, after every step

    @invariant()
    def payments_are_captured_and_refunded_at_most_once(self) -> None:
        for order_id in self.customers:
            history = names(self.tiffin.payments.history(payment_id_for(order_id)))
            assert history.count("Captured") <= 1, f"payment captured twice: {history}"
            assert history.count("RefundRequested") <= 1, f"refund asked twice: {history}"
            if "RefundRequested" in history:
                before = history[: history.index("RefundRequested")]
                assert "Captured" in before, f"refund asked before any capture: {history}"

    @invariant()
    def each_courier_carries_at_most_the_one_delivery_it_knows_of(self) -> None:
        carried: dict[str, list[UUID]] = {courier_id: [] for courier_id in self.riders}
        for order_id in self.customers:
            delivery = self.delivery_of(order_id)
            if delivery is not None and delivery.status in CARRIED:
                assert delivery.courier_id in carried, f"{delivery.status} without a courier"
                carried[delivery.courier_id].append(delivery.id)
        for courier_id, deliveries in carried.items():
            courier = self.tiffin.deliveries.get_courier(UUID(courier_id))
            active = courier.active_delivery_id
            assert deliveries == ([] if active is None else [active]), (
                f"courier {courier_id} has active delivery {active}, deliveries say {deliveries}"
            )
            if active is not None:
                delivery = self.tiffin.deliveries.get_delivery(active)
                assert delivery.status in CARRIED, f"courier {courier_id} on a {delivery.status}"
                assert delivery.courier_id == courier_id, f"{delivery.courier_id} has it"

    @invariant()
    def orders_on_the_road_are_paid(self) -> None:
        for order_id in self.customers:
            status = self.tiffin.ordering.get_order(order_id).status
            if status in ON_THE_ROAD:
                payment = self.tiffin.payments.payment_of_order(order_id)
                assert payment.status is PaymentStatus.CAPTURED, (
                    f"order {status}, payment {payment.status}"
                )

    # Helpers

    def new_order(self) -> UUID:
        customer = cause(Role.CUSTOMER)
        order = place(self.tiffin, self.kitchen, customer)
        self.customers[order.id] = customer
        return order.id

    def next_step(self, order_id: UUID, status: OrderStatus) -> None:
        """What the order, being ``status``, waits for on the way to its customer."""
        if status is OrderStatus.AWAITING_PAYMENT:
            self.gateway_captures(order_id)
        elif status is OrderStatus.PENDING_ACCEPTANCE:
            self.restaurant_accepts(order_id)
        elif status is OrderStatus.ACCEPTED:
            self.restaurant_marks_ready(order_id)
        elif status is OrderStatus.READY_FOR_PICKUP:
            self.courier_picks_up(order_id)
        else:
            self.courier_delivers(order_id)

    def attempt(self, command: Callable[[], object]) -> None:
        """Runs a party's command; the domain refusing it in the current state is no failure."""
        try:
            command()
        except REFUSALS as refusal:
            event(f"refused: {type(refusal).__name__}")

    def gateway_says(
        self, order_id: UUID, kind: str, applies: Callable[[Payment], bool]
    ) -> MultipleResults[Webhook]:
        """The gateway reports on the order's payment: applied exactly when the payment's
        status allows it, else ignored without any change."""
        payment = self.tiffin.payments.lookup(Payment, payment_id_for(order_id))
        if payment is None:  # not requested yet: the gateway cannot know of it
            return multiple()
        before = names(self.tiffin.payments.history(payment.id))
        event_id = f"evt_{uuid4().hex}"
        outcome = gateway_says(self.tiffin, payment, kind, event_id)
        if applies(payment):
            assert outcome is WebhookOutcome.APPLIED, f"{kind} on a {payment.status} payment"
            return multiple(Webhook(payment.id, kind, event_id))
        assert outcome is WebhookOutcome.IGNORED, f"{kind} on a {payment.status}: {outcome}"
        assert names(self.tiffin.payments.history(payment.id)) == before
        return multiple()

    def courier_does(self, order_id: UUID, act: Callable[[UUID, Cause], object]) -> None:
        """The order's courier (any courier, if it has none) acts on the order's delivery."""
        delivery = self.tiffin.deliveries.delivery_of_order(order_id)
        rider = self.riders.get(delivery.courier_id or "", next(iter(self.riders.values())))
        act(delivery.id, rider)

    def time_passes(self, seconds: float) -> None:
        """The scheduler's clock jumps ``seconds`` on and fires every deadline then due.

        The clock is then moved back: events are stamped with real time, so a clock left
        ahead would make every deadline scheduled later fall due at once. What the deadlines
        did is left to the saga, for the ``process`` rule.
        """
        self.clock.advance(seconds)
        try:
            self.worker(deadlines.QUEUE).run_once()
        finally:
            self.clock.advance(-seconds)

    def worker(self, name: str) -> Component:
        return next(c for c in self.saga.components if c.name == name)

    def status_of(self, order_id: UUID) -> OrderStatus:
        return self.tiffin.ordering.get_order(order_id).status

    def delivery_of(self, order_id: UUID) -> Delivery | None:
        return self.tiffin.deliveries.lookup(Delivery, delivery_id_for(order_id))

    # At the end

    def settle(self) -> None:
        """The saga catches up, and the gateway pays back every refund it was asked for."""
        self.saga.run_until_idle()
        for order_id in self.customers:
            payment = self.tiffin.payments.payment_of_order(order_id)
            if payment.status is PaymentStatus.REFUND_PENDING:
                outcome = gateway_says(self.tiffin, payment, "refund.processed")
                assert outcome is WebhookOutcome.APPLIED
        self.saga.run_until_idle()
        self.payments_are_captured_and_refunded_at_most_once()
        self.each_courier_carries_at_most_the_one_delivery_it_knows_of()
        self.orders_on_the_road_are_paid()

    def check_settled(self) -> None:
        for order_id in self.customers:
            order = self.tiffin.ordering.get_order(order_id)
            payment = self.tiffin.payments.payment_of_order(order_id)
            history = names(self.tiffin.payments.history(payment.id))
            delivery = self.delivery_of(order_id)
            event(f"order ended {order.status}, payment {payment.status}")
            state = f"order {order.status}, payment {payment.status} {history}"
            if order.status in CLOSED:
                assert payment.status in MONEY_SETTLED, state
                if "Captured" in history:
                    assert history.count("RefundRequested") == 1, state
                    assert payment.status is PaymentStatus.REFUNDED, state
            if order.status is OrderStatus.DELIVERED:
                assert payment.status is PaymentStatus.CAPTURED, state
                assert "RefundRequested" not in history, state
            if order.status is OrderStatus.CANCELLED and delivery is not None:
                assert delivery.status is DeliveryStatus.CANCELLED, (
                    f"{state}; its delivery is {delivery.status}"
                )
        for courier_id in self.riders:
            courier = self.tiffin.deliveries.get_courier(UUID(courier_id))
            if courier.active_delivery_id is not None:
                carried = self.tiffin.deliveries.get_delivery(courier.active_delivery_id)
                status = self.tiffin.ordering.get_order(carried.order_id).status
                assert status not in FINAL, (
                    f"courier {courier_id} still carries the delivery of a {status} order"
                )
        outbox = self.tiffin.work_store().items("outbox")
        assert outbox == [], f"gateway calls left undone: {outbox}"
        for order_id in self.customers:
            assert self.summary_row(order_id) == self.as_the_aggregates_say(order_id)

    def summary_row(self, order_id: UUID) -> tuple[Any, ...]:
        """The order summary view's row of the order (built by its projector)."""
        with self.tiffin.views().transaction() as run:
            [row] = run(
                "SELECT status, courier_id, total_minor, payment_status, delivery_status,"
                " closing_reason FROM order_summary WHERE order_id = ?",
                (str(order_id),),
            ).fetchall()
        *facts, reason = row
        return (*facts, None if reason is None else self.tiffin.personal.unseal(reason))

    def as_the_aggregates_say(self, order_id: UUID) -> tuple[Any, ...]:
        order = self.tiffin.ordering.get_order(order_id)
        delivery = self.delivery_of(order_id)
        return (
            order.status,
            order.courier_id,
            order.total.minor,
            self.tiffin.payments.payment_of_order(order_id).status,
            None if delivery is None else delivery.status,
            order.closing_reason,
        )


TestOrderSaga = OrderSagaMachine.TestCase
