"""Gateway calls run from recorded payment events: at least once, retried with backoff, never
holding up other payments, parked after a bounded number of failures and retryable."""

from __future__ import annotations

import pytest

from application.runtime import Runtime
from application.settings import Settings
from application.work import PARKED, SCHEDULED
from domain.payment import Payment, PaymentStatus, payment_id_for
from domain.values import Role
from tests.fakes.upi_gateway import FakeGateway, paying_through
from tests.scenario import ManualClock, cause, open_kitchen, place
from wiring.bootstrap import Tiffin

MAX_ATTEMPTS = 4


@pytest.fixture
def settings(settings: Settings, gateway: FakeGateway) -> Settings:
    return paying_through(settings, gateway, outbox_max_attempts=MAX_ATTEMPTS)


def placed_payments(tiffin: Tiffin, saga: Runtime, count: int) -> list[Payment]:
    kitchen = open_kitchen(tiffin)
    orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(count)]
    saga.run_until_idle()
    return [tiffin.payments.payment_of_order(order.id) for order in orders]


def test_each_payment_gets_one_collect_call_keyed_by_its_payment_id(
    tiffin: Tiffin, saga: Runtime, gateway: FakeGateway
) -> None:
    payments = placed_payments(tiffin, saga, 3)

    assert gateway.calls("/v1/collects") == {str(p.id): 1 for p in payments}
    bodies = [r["body"] for r in gateway.requests]
    assert sorted(b["payment_id"] for b in bodies) == sorted(str(p.id) for p in payments)
    assert all(b["amount"] == {"amount": "315.50", "currency": "INR"} for b in bodies)
    assert tiffin.work_store().items("outbox") == []


def test_a_failing_gateway_is_retried_with_growing_backoff_until_it_answers(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    gateway.failures = [503, 503]
    [payment] = placed_payments(tiffin, saga, 1)

    [item] = tiffin.work_store().items("outbox")
    assert (item.attempts, item.status) == (1, SCHEDULED)
    assert "503" in item.last_error
    first_wait = item.due_at - clock()
    clock.advance(first_wait + 0.01)
    saga.run_until_idle()
    [item] = tiffin.work_store().items("outbox")
    assert item.attempts == 2
    assert item.due_at - clock() > first_wait, "the second wait is longer"

    clock.advance(item.due_at - clock() + 0.01)
    saga.run_until_idle()

    assert gateway.calls("/v1/collects") == {str(payment.id): 3}
    assert tiffin.work_store().items("outbox") == []


def test_a_payment_whose_calls_keep_failing_is_parked_and_holds_up_no_other(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    kitchen = open_kitchen(tiffin)
    stuck_id = str(payment_id_for(place(tiffin, kitchen, cause(Role.CUSTOMER)).id))
    gateway.down_for.add(stuck_id)
    for _ in range(MAX_ATTEMPTS + 2):
        others = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(2)]
        clock.advance(60)  # past every backoff, well before the payments expire
        saga.run_until_idle()
        for order in others:
            other_id = str(tiffin.payments.payment_of_order(order.id).id)
            assert gateway.calls("/v1/collects")[other_id] == 1, "others go straight through"

    [parked] = tiffin.work_store().items("outbox", PARKED)
    assert parked.key == f"collect:{stuck_id}"
    assert parked.attempts == MAX_ATTEMPTS
    assert "503" in parked.last_error
    sent = gateway.calls("/v1/collects")[stuck_id]
    clock.advance(60)
    saga.run_until_idle()
    assert gateway.calls("/v1/collects")[stuck_id] == sent, "a parked call is not retried"

    gateway.down_for.clear()
    assert tiffin.work_store().retry("outbox", parked.key, clock())
    saga.run_until_idle()

    assert gateway.calls("/v1/collects")[stuck_id] == sent + 1
    assert tiffin.work_store().items("outbox") == []
    assert not tiffin.work_store().retry("outbox", parked.key, clock()), "nothing left to retry"


def test_a_collect_the_gateway_refuses_fails_the_payment_and_cancels_the_order(
    tiffin: Tiffin, saga: Runtime, gateway: FakeGateway
) -> None:
    gateway.failures = [422]
    kitchen = open_kitchen(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))

    saga.run_until_idle()

    payment = tiffin.payments.payment_of_order(order.id)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_reason is not None
    assert "422" in payment.failure_reason
    assert tiffin.ordering.get_order(order.id).closing_reason == (
        f"payment failed: {payment.failure_reason}"
    )
