"""Payments whose webhook never came are reconciled: looked up at the gateway (the real HTTP
adapter, talking to a local stand-in) and settled as the webhook would have settled them, once."""

from __future__ import annotations

from collections import Counter

import pytest

from application.reconciliation import QUEUE, stranded
from application.runtime import Runtime
from application.settings import Settings
from application.webhooks import WebhookOutcome
from cli.main import main
from domain.order import OrderStatus
from domain.payment import PaymentStatus
from domain.values import Role
from tests.fakes.upi_gateway import FakeGateway, paying_through
from tests.scenario import ManualClock, cause, gateway_says, open_kitchen, place
from wiring.bootstrap import Tiffin

AFTER = 120.0


@pytest.fixture
def settings(settings: Settings, gateway: FakeGateway) -> Settings:
    return paying_through(settings, gateway, reconcile_after_seconds=AFTER)


def events_of(tiffin: Tiffin, payment_id: object) -> Counter[str]:
    return Counter(type(e).__name__ for e in tiffin.payments.history(payment_id))  # type: ignore[arg-type]


def stranded_now(tiffin: Tiffin, clock: ManualClock) -> int:
    return stranded(tiffin.work_store().items(QUEUE), clock(), AFTER)


def test_a_capture_whose_webhook_was_lost_is_found_and_applied_once(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    gateway.settle(payment.id, "captured")  # the payer paid; the webhook is lost

    clock.advance(AFTER / 2)
    saga.run_until_idle()
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING
    assert stranded_now(tiffin, clock) == 0, "not stranded before the reconcile time"

    clock.advance(AFTER / 2 + 1)
    assert stranded_now(tiffin, clock) == 1
    saga.run_until_idle()

    captured = tiffin.payments.get_payment(payment.id)
    assert captured.status is PaymentStatus.CAPTURED
    assert captured.gateway_ref == gateway.references[str(payment.id)]
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.PENDING_ACCEPTANCE
    assert stranded_now(tiffin, clock) == 0
    assert tiffin.work_store().items(QUEUE) == []
    late = gateway_says(tiffin, captured, "payment.captured")  # the webhook turns up after all
    assert late is WebhookOutcome.IGNORED
    assert events_of(tiffin, payment.id)["Captured"] == 1


def test_a_stranded_refund_is_finished_once(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    kitchen = open_kitchen(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    gateway.settle(payment.id, "captured")
    gateway_says(tiffin, payment, "payment.captured")
    saga.run_until_idle()
    tiffin.ordering.reject_order(order.id, "out of rice", kitchen.owner)
    saga.run_until_idle()
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.REFUND_PENDING
    gateway.settle(payment.id, "refunded")  # the bank paid it back; the webhook is lost

    clock.advance(AFTER + 1)
    saga.run_until_idle()
    clock.advance(AFTER + 1)
    saga.run_until_idle()

    refunded = tiffin.payments.get_payment(payment.id)
    assert refunded.status is PaymentStatus.REFUNDED
    assert refunded.refund is not None
    assert refunded.refund.gateway_ref == gateway.references[f"{payment.id}:refund"]
    assert events_of(tiffin, payment.id)["Refunded"] == 1
    assert tiffin.work_store().items(QUEUE) == []


def test_a_payment_the_gateway_still_calls_pending_is_asked_again_later(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    looked_up = f"/v1/payments/{payment.id}"

    for expected_calls in (1, 2, 3):
        clock.advance(AFTER + 1)
        saga.run_until_idle()
        assert sum(r["path"] == looked_up for r in gateway.requests) == expected_calls

    [waiting] = tiffin.work_store().items(QUEUE)
    assert waiting.due_at > clock(), "asked again only after another reconcile time"
    assert stranded_now(tiffin, clock) == 1
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING


def test_a_payment_paid_with_its_webhook_lost_is_not_expired_at_its_deadline(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway, settings: Settings
) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    gateway.settle(payment.id, "captured")
    tiffin.work_store().finish(*tiffin.work_store().items(QUEUE))  # only the deadline is left

    clock.advance(settings.payment_expiry_seconds + 1)
    saga.run_until_idle()

    assert events_of(tiffin, payment.id)["Captured"] == 1
    assert events_of(tiffin, payment.id)["Expired"] == 0
    order_events = [type(e).__name__ for e in tiffin.ordering.history(order.id)]
    assert order_events[:2] == ["Placed", "Paid"], "paid, not cancelled for want of payment"


def test_a_payment_expires_when_the_gateway_cannot_say(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway, settings: Settings
) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    saga.run_until_idle()
    gateway.down = True

    clock.advance(settings.payment_expiry_seconds + 1)
    saga.run_until_idle()

    assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.EXPIRED
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.CANCELLED
    assert tiffin.work_store().items(QUEUE) == [], "an expired payment waits for nothing"


def test_tiffin_payments_reconcile_settles_what_the_gateway_says_now(
    tiffin: Tiffin,
    saga: Runtime,
    gateway: FakeGateway,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kitchen = open_kitchen(tiffin)
    orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(3)]
    saga.run_until_idle()
    payments = [tiffin.payments.payment_of_order(order.id) for order in orders]
    gateway.settle(payments[0].id, "captured")
    gateway.settle(payments[1].id, "failed")
    for name, value in {
        "TIFFIN_DATA_DIR": str(settings.data_dir),
        "TIFFIN_DATABASE_URL": settings.database_url or "",
        "TIFFIN_PAYMENT_GATEWAY": "http",
        "TIFFIN_PAYMENT_GATEWAY_URL": gateway.url,
        "TIFFIN_PAYMENT_GATEWAY_KEY": gateway.api_key,
    }.items():
        monkeypatch.setenv(name, value)

    assert main(["payments", "reconcile"]) == 0
    first = capsys.readouterr().out
    assert main(["payments", "reconcile", "--payment", str(payments[0].id)]) == 0
    second = capsys.readouterr().out

    assert "reconciled 3 payment(s)" in first
    assert "2 changed by the gateway's answer" in first
    assert "now 1 captured, 1 failed, 1 pending" in first
    assert "0 changed" in second
    statuses = [tiffin.payments.get_payment(p.id).status for p in payments]
    assert statuses == [PaymentStatus.CAPTURED, PaymentStatus.FAILED, PaymentStatus.PENDING]
    assert events_of(tiffin, payments[0].id)["Captured"] == 1
