"""The order saga runs by itself: each party acts, the process managers do the rest.

Both backends; the gateway is the real HTTP adapter talking to a local fake gateway server,
whose outcomes come back as signed webhooks sent by the test (as the gateway would send them).
The scheduler's clock is moved on by the test instead of waiting for deadlines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import pytest

from application.deadlines import DeadlineFiring, DeadlineTimes
from application.errors import NotFound
from application.runtime import Runtime
from application.settings import Settings
from application.work import Done
from domain.delivery import DeliveryStatus
from domain.errors import OrderClosed, OrderNotCancellable
from domain.order import Order, OrderStatus
from domain.payment import PaymentStatus
from domain.values import Cause, Location, Role
from tests.fakes.upi_gateway import FakeGateway, paying_through
from tests.scenario import (
    ADMIN,
    DELIVERED_ORDER_EVENTS,
    ManualClock,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    place,
)
from wiring.bootstrap import Tiffin


@pytest.fixture
def settings(settings: Settings, gateway: FakeGateway) -> Settings:
    return paying_through(settings, gateway)


def refunds_requested(tiffin: Tiffin, order: Order) -> int:
    payment_id = tiffin.payments.payment_of_order(order.id).id
    return sum(type(e).__name__ == "RefundRequested" for e in tiffin.payments.history(payment_id))


def test_an_order_runs_from_placement_to_delivery_each_party_doing_only_its_part(
    tiffin: Tiffin, saga: Runtime, gateway: FakeGateway
) -> None:
    kitchen = open_kitchen(tiffin)
    far, _ = courier_on_shift(tiffin, at=Location(13.0500, 77.6500))
    near, rider = courier_on_shift(tiffin)
    customer = cause(Role.CUSTOMER)

    order = place(tiffin, kitchen, customer)
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    assert payment.status is PaymentStatus.PENDING
    assert payment.upi_uri.startswith(f"upi://pay?pa=tiffin@upi&pn=Tiffin&tr={payment.id}&am=")
    assert gateway.calls("/v1/collects") == {str(payment.id): 1}

    gateway_says(tiffin, payment, "payment.captured")
    saga.run_until_idle()
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.PENDING_ACCEPTANCE

    tiffin.ordering.accept_order(order.id, 15, kitchen.owner)
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(order.id)
    assert delivery.courier_id == str(near.id), "the nearer courier gets the order"
    assert tiffin.ordering.get_order(order.id).courier_id == str(near.id)
    assert tiffin.deliveries.get_courier(near.id).active_delivery_id == delivery.id
    assert tiffin.deliveries.get_courier(far.id).active_delivery_id is None

    tiffin.ordering.mark_ready(order.id, kitchen.owner)
    tiffin.deliveries.pick_up(delivery.id, rider)
    saga.run_until_idle()
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.PICKED_UP

    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()
    tiffin.ordering.rate_order(order.id, restaurant_stars=5, courier_stars=5, cause=customer)

    events = [type(e).__name__ for e in tiffin.ordering.history(order.id)]
    assert tuple(events) == DELIVERED_ORDER_EVENTS
    assert tiffin.deliveries.get_courier(near.id).available
    assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.CAPTURED
    assert gateway.calls("/v1/refunds") == {}


@dataclass(frozen=True)
class Compensation:
    """How an order goes wrong, and where it must end."""

    act: Callable[[Tiffin, Runtime, ManualClock, Order], None]
    order_status: OrderStatus
    payment_status: PaymentStatus
    refunds: int
    delivery_status: DeliveryStatus | None = None


def pay(tiffin: Tiffin, saga: Runtime, order: Order) -> None:
    gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()


def accept(tiffin: Tiffin, saga: Runtime, order: Order) -> None:
    owner = cause(Role.RESTAURANT)
    tiffin.ordering.accept_order(order.id, 10, owner)
    saga.run_until_idle()


def payment_fails(tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order) -> None:
    gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.failed")


def payment_expires(tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order) -> None:
    clock.advance(tiffin.settings.payment_expiry_seconds + 1)


def restaurant_rejects(tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order) -> None:
    pay(tiffin, saga, order)
    tiffin.ordering.reject_order(order.id, "out of rice", cause(Role.RESTAURANT))


def restaurant_times_out(tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order) -> None:
    pay(tiffin, saga, order)
    clock.advance(tiffin.settings.acceptance_timeout_seconds + 1)


def customer_cancels_unpaid(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order
) -> None:
    tiffin.ordering.cancel_order(order.id, "changed my mind", cause(Role.CUSTOMER))


def customer_cancels_then_pays_anyway(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order
) -> None:
    tiffin.ordering.cancel_order(order.id, "changed my mind", cause(Role.CUSTOMER))
    saga.run_until_idle()
    pay(tiffin, saga, order)  # the UPI app paid after all: the money goes back


def customer_cancels_paid(tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order) -> None:
    pay(tiffin, saga, order)
    tiffin.ordering.cancel_order(order.id, "ordered twice", cause(Role.CUSTOMER))


def admin_cancels_accepted(tiffin: Tiffin, saga: Runtime, clock: ManualClock, order: Order) -> None:
    pay(tiffin, saga, order)
    accept(tiffin, saga, order)
    assert tiffin.deliveries.delivery_of_order(order.id).status is DeliveryStatus.ASSIGNED
    tiffin.ordering.cancel_order(order.id, "kitchen fire", ADMIN)


COMPENSATIONS = {
    "payment failed": Compensation(
        payment_fails, OrderStatus.CANCELLED, PaymentStatus.FAILED, refunds=0
    ),
    "payment expired": Compensation(
        payment_expires, OrderStatus.CANCELLED, PaymentStatus.EXPIRED, refunds=0
    ),
    "restaurant rejects": Compensation(
        restaurant_rejects, OrderStatus.REJECTED, PaymentStatus.REFUNDED, refunds=1
    ),
    "restaurant times out": Compensation(
        restaurant_times_out, OrderStatus.REJECTED, PaymentStatus.REFUNDED, refunds=1
    ),
    "customer cancels before capture": Compensation(
        customer_cancels_unpaid, OrderStatus.CANCELLED, PaymentStatus.FAILED, refunds=0
    ),
    "customer cancels, then the payment arrives": Compensation(
        customer_cancels_then_pays_anyway, OrderStatus.CANCELLED, PaymentStatus.REFUNDED, refunds=1
    ),
    "customer cancels after capture": Compensation(
        customer_cancels_paid, OrderStatus.CANCELLED, PaymentStatus.REFUNDED, refunds=1
    ),
    "admin cancels after acceptance": Compensation(
        admin_cancels_accepted,
        OrderStatus.CANCELLED,
        PaymentStatus.REFUNDED,
        refunds=1,
        delivery_status=DeliveryStatus.CANCELLED,
    ),
}


@pytest.mark.parametrize("case", COMPENSATIONS.values(), ids=COMPENSATIONS.keys())
def test_every_compensation_runs_to_completion_and_refunds_exactly_once_where_money_was_taken(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway, case: Compensation
) -> None:
    kitchen = open_kitchen(tiffin)
    courier, _ = courier_on_shift(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()

    case.act(tiffin, saga, clock, order)
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    if payment.status is PaymentStatus.REFUND_PENDING:
        assert gateway.calls("/v1/refunds") == {f"{payment.id}:refund": 1}
        gateway_says(tiffin, payment, "refund.processed")
        saga.run_until_idle()
    for _ in range(2):  # deadlines firing late, or twice, change nothing
        clock.advance(tiffin.settings.payment_expiry_seconds + 1)
        saga.run_until_idle()

    assert tiffin.ordering.get_order(order.id).status is case.order_status
    assert tiffin.payments.payment_of_order(order.id).status is case.payment_status
    assert refunds_requested(tiffin, order) == case.refunds
    assert delivery_status(tiffin, order.id) is case.delivery_status
    assert tiffin.deliveries.get_courier(courier.id).available, "the courier is free again"
    assert tiffin.work_store().items("outbox") == []


def delivery_status(tiffin: Tiffin, order_id: UUID) -> DeliveryStatus | None:
    try:
        return tiffin.deliveries.delivery_of_order(order_id).status
    except NotFound:
        return None


def test_firing_a_deadline_twice_has_no_second_effect(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock
) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    saga.run_until_idle()
    [expiry] = [i for i in tiffin.work_store().items("deadlines") if i.key.startswith("payment")]
    settings = tiffin.settings
    fire = DeadlineFiring(
        tiffin.ordering,
        tiffin.payments,
        tiffin.deliveries,
        DeadlineTimes(
            settings.payment_expiry_seconds,
            settings.acceptance_timeout_seconds,
            settings.assignment_retry_seconds,
        ),
    )

    assert fire(expiry) == Done()
    assert fire(expiry) == Done()
    clock.advance(settings.payment_expiry_seconds + 1)
    saga.run_until_idle()

    payment = tiffin.payments.payment_of_order(order.id)
    assert [type(e).__name__ for e in tiffin.payments.history(payment.id)] == [
        "Requested",
        "Expired",
    ]
    assert [type(e).__name__ for e in tiffin.ordering.history(order.id)] == ["Placed", "Cancelled"]
    assert tiffin.work_store().items("deadlines") == []


def accepted_with_courier(tiffin: Tiffin, saga: Runtime) -> tuple[Order, UUID, Cause]:
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    pay(tiffin, saga, order)
    accept(tiffin, saga, order)
    return order, tiffin.deliveries.delivery_of_order(order.id).id, rider


def test_a_courier_cannot_pick_up_an_order_cancelled_a_moment_ago(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order, delivery_id, rider = accepted_with_courier(tiffin, saga)
    tiffin.ordering.cancel_order(order.id, "kitchen fire", ADMIN)

    with pytest.raises(OrderClosed, match="was cancelled: take the food back"):
        tiffin.deliveries.pick_up(delivery_id, rider)  # before the saga cancelled the delivery
    saga.run_until_idle()

    assert tiffin.deliveries.get_delivery(delivery_id).status is DeliveryStatus.CANCELLED
    assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.REFUND_PENDING


def test_an_order_its_courier_has_collected_cannot_be_cancelled_even_before_it_knows(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order, delivery_id, rider = accepted_with_courier(tiffin, saga)
    tiffin.deliveries.pick_up(delivery_id, rider)
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.ACCEPTED, "not told yet"

    with pytest.raises(OrderNotCancellable, match="picked up by its courier"):
        tiffin.ordering.cancel_order(order.id, "kitchen fire", ADMIN)
    saga.run_until_idle()

    assert tiffin.ordering.get_order(order.id).status is OrderStatus.PICKED_UP
    assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.CAPTURED


def test_a_pickup_and_a_cancellation_at_the_same_instant_end_with_the_delivery_recalled(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order, delivery_id, rider = accepted_with_courier(tiffin, saga)
    courier_id = UUID(tiffin.deliveries.get_delivery(delivery_id).courier_id or "")
    progress, tiffin.ordering.delivery_progress = tiffin.ordering.delivery_progress, None
    tiffin.deliveries.pick_up(delivery_id, rider)  # lands between the cancel's check and commit
    tiffin.ordering.cancel_order(order.id, "kitchen fire", ADMIN)
    tiffin.ordering.delivery_progress = progress

    saga.run_until_idle()

    delivery_events = [type(e).__name__ for e in tiffin.deliveries.history(delivery_id)]
    assert delivery_events[-2:] == ["PickedUp", "Recalled"]
    assert tiffin.deliveries.get_courier(courier_id).available
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.CANCELLED
    assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.REFUND_PENDING
    with pytest.raises(OrderClosed):
        tiffin.deliveries.deliver(delivery_id, rider)


def test_an_order_cancelled_before_deliveries_saw_its_acceptance_gets_no_delivery(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    courier, _ = courier_on_shift(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()

    tiffin.ordering.accept_order(order.id, 10, kitchen.owner)
    tiffin.ordering.cancel_order(order.id, "the kitchen caught fire", kitchen.owner)
    saga.run_until_idle()  # Deliveries now sees the acceptance, then the cancellation

    assert tiffin.ordering.get_order(order.id).status is OrderStatus.CANCELLED
    with pytest.raises(NotFound):
        tiffin.deliveries.delivery_of_order(order.id)
    assert tiffin.deliveries.get_courier(courier.id).active_delivery_id is None
    log = tiffin.deliveries.recorder.select_notifications(start=1, limit=10_000)
    assert not [n for n in log if n.topic.startswith("domain.delivery:")], "nothing requested"
    assert tiffin.ordering.get_order(order.id).courier_id is None
