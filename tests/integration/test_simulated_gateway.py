"""The simulated gateway pays through the signed-webhook path, as a real gateway would, and
keeps what it owes in the work database: a process that dies between the call and the webhook
loses neither."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from application.gateway import CollectRequest, GatewayState
from application.settings import Settings
from domain.payment import PaymentStatus, payment_id_for
from domain.values import Role
from tests.scenario import ManualClock, cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

DELAY = 2.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"simulated_capture_seconds": DELAY})


@pytest.fixture
def platform(settings: Settings, clock: ManualClock) -> Iterator[Tiffin]:
    with bootstrap(settings, clock=clock) as tiffin:
        yield tiffin


def run_saga(tiffin: Tiffin) -> None:
    runtime = tiffin.runtime()
    try:
        runtime.run_until_idle()
    finally:
        runtime.stop()


def test_it_captures_then_refunds_through_signed_webhooks_after_its_delay(
    platform: Tiffin, clock: ManualClock
) -> None:
    kitchen = open_kitchen(platform)
    order = place(platform, kitchen, cause(Role.CUSTOMER))
    run_saga(platform)
    payment = platform.payments.payment_of_order(order.id)
    assert payment.status is PaymentStatus.PENDING, "not before its delay"
    assert platform.gateway().status(payment.id).state is GatewayState.PENDING

    clock.advance(DELAY + 0.1)
    run_saga(platform)
    captured = platform.payments.get_payment(payment.id)
    assert captured.status is PaymentStatus.CAPTURED
    assert platform.gateway().status(payment.id).state is GatewayState.CAPTURED

    platform.ordering.reject_order(order.id, "out of rice", kitchen.owner)
    run_saga(platform)
    assert platform.gateway().status(payment.id).state is GatewayState.REFUND_PENDING
    clock.advance(DELAY + 0.1)
    run_saga(platform)

    assert platform.payments.get_payment(payment.id).status is PaymentStatus.REFUNDED
    at_gateway = platform.gateway().status(payment.id)
    assert at_gateway.state is GatewayState.REFUNDED
    assert at_gateway.gateway_ref == captured.gateway_ref
    assert at_gateway.refund_amount == payment.amount
    correlations = [e.cause.correlation_id for e in platform.payments.history(payment.id)]
    assert sum(c.startswith("gateway:sim_") for c in correlations) == 2


def test_a_webhook_owed_when_the_process_died_is_sent_by_the_next_one(
    settings: Settings, clock: ManualClock
) -> None:
    with bootstrap(settings, clock=clock) as first:
        order = place(first, open_kitchen(first), cause(Role.CUSTOMER))
        run_saga(first)  # the collect call is made; its webhook is due in DELAY seconds
        payment_id = first.payments.payment_of_order(order.id).id
    # the first process is gone with whatever it kept in memory
    clock.advance(DELAY + 0.1)
    with bootstrap(settings, clock=clock) as second:
        run_saga(second)
        assert second.payments.get_payment(payment_id).status is PaymentStatus.CAPTURED


def test_a_repeated_call_owes_one_webhook(platform: Tiffin, clock: ManualClock) -> None:
    order = place(platform, open_kitchen(platform), cause(Role.CUSTOMER))
    run_saga(platform)
    payment = platform.payments.payment_of_order(order.id)
    again = CollectRequest(payment.id, payment.vpa, payment.amount, "again")
    platform.gateway().collect(again)  # as the outbox does after a crash mid-call
    [owed] = platform.work_store().items("simulated_webhooks")
    assert owed.key == f"payment.captured:{payment.id}"


def test_a_delay_of_minus_one_never_pays(settings: Settings, clock: ManualClock) -> None:
    never = settings.model_copy(update={"simulated_capture_seconds": -1})
    with bootstrap(never, clock=clock) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        payment_id = payment_id_for(order.id)
        assert tiffin.gateway().status(payment_id).state is GatewayState.UNKNOWN
        run_saga(tiffin)
        clock.advance(600)  # well past any delay, before the payment expires
        run_saga(tiffin)
        assert tiffin.work_store().items("simulated_webhooks") == []
        assert tiffin.gateway().status(payment_id).state is GatewayState.PENDING
        assert tiffin.payments.get_payment(payment_id).status is PaymentStatus.PENDING
