"""Gateway webhooks: verified, applied at most once per gateway event, and harmless when bad."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from application.webhooks import (
    InvalidSignature,
    MalformedWebhook,
    PaymentWebhooks,
    WebhookOutcome,
    WebhookSignatures,
    signature_header,
)
from domain.errors import AmountMismatch
from domain.payment import Payment, PaymentStatus
from domain.values import Money
from tests.scenario import SAGA, pending_payment
from wiring.bootstrap import Tiffin

SECRET = b"test-webhook-secret"
NOW = 1_790_000_000


@pytest.fixture
def payment(tiffin: Tiffin) -> Payment:
    return pending_payment(tiffin)


@pytest.fixture
def webhooks(tiffin: Tiffin) -> PaymentWebhooks:
    return PaymentWebhooks(tiffin.payments, WebhookSignatures(SECRET), clock=lambda: NOW)


def body(payment: Payment, event_id: str, kind: str, amount: Money | None = None) -> bytes:
    money = amount or payment.amount
    event: dict[str, Any] = {
        "id": event_id,
        "type": kind,
        "payment_id": str(payment.id),
        "gateway_ref": f"UTR-{event_id}",
        "amount": {"amount": str(money.amount), "currency": money.currency},
    }
    return json.dumps(event).encode()


def signed(raw: bytes, at: int = NOW, secret: bytes = SECRET) -> tuple[str, bytes]:
    return signature_header(secret, raw, at), raw


def test_a_signed_capture_captures_the_payment_and_names_the_gateway_event(
    tiffin: Tiffin, webhooks: PaymentWebhooks, payment: Payment
) -> None:
    outcome = webhooks.receive(*signed(body(payment, "evt_1", "payment.captured")))

    captured = tiffin.payments.get_payment(payment.id)
    assert outcome is WebhookOutcome.APPLIED
    assert (captured.status, captured.gateway_ref) == (PaymentStatus.CAPTURED, "UTR-evt_1")
    assert tiffin.payments.history(payment.id)[-1].cause.correlation_id == "gateway:evt_1"


@pytest.mark.parametrize("seed", range(5))
def test_each_event_delivered_three_times_in_shuffled_order_takes_effect_once(
    tiffin: Tiffin, webhooks: PaymentWebhooks, payment: Payment, seed: int
) -> None:
    deliveries = [body(payment, "evt_ok", "payment.captured")] * 3
    deliveries += [body(payment, "evt_no", "payment.failed")] * 3
    random.Random(seed).shuffle(deliveries)

    outcomes = [webhooks.receive(*signed(raw)) for raw in deliveries]

    history = tiffin.payments.history(payment.id)
    status = tiffin.payments.get_payment(payment.id).status
    if json.loads(deliveries[0])["type"] == "payment.captured":  # the failure comes too late
        assert outcomes.count(WebhookOutcome.APPLIED) == 1
        assert status is PaymentStatus.CAPTURED
        assert [type(e).__name__ for e in history] == ["Requested", "Captured"]
    else:  # money taken after the payment failed is taken, and goes straight back
        assert outcomes.count(WebhookOutcome.APPLIED) == 2
        assert status is PaymentStatus.REFUND_PENDING
        names = [type(e).__name__ for e in history]
        assert names == ["Requested", "Failed", "Captured", "RefundRequested"]


def test_a_refund_is_completed_once_by_its_gateway_event(
    tiffin: Tiffin, webhooks: PaymentWebhooks, payment: Payment
) -> None:
    webhooks.receive(*signed(body(payment, "evt_pay", "payment.captured")))
    tiffin.payments.request_refund(payment.id, "restaurant rejected the order", SAGA)
    refunded = body(payment, "evt_refund", "refund.processed")

    outcomes = [webhooks.receive(*signed(refunded)) for _ in range(3)]

    assert outcomes == [WebhookOutcome.APPLIED, WebhookOutcome.DUPLICATE, WebhookOutcome.DUPLICATE]
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.REFUNDED


def test_a_refund_reported_for_another_amount_is_refused_and_stays_pending(
    tiffin: Tiffin, webhooks: PaymentWebhooks, payment: Payment
) -> None:
    webhooks.receive(*signed(body(payment, "evt_pay", "payment.captured")))
    tiffin.payments.request_refund(payment.id, "order rejected", SAGA)
    short = body(payment, "evt_refund", "refund.processed", Money(payment.amount.minor - 1))

    with pytest.raises(AmountMismatch):
        webhooks.receive(*signed(short))

    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.REFUND_PENDING


def bad_deliveries(payment: Payment) -> dict[str, tuple[str | None, bytes]]:
    raw = body(payment, "evt_bad", "payment.captured")
    header, _ = signed(raw)
    return {
        "no signature": (None, raw),
        "wrong secret": signed(raw, secret=b"someone-else"),
        "stale timestamp": signed(raw, at=NOW - 301),
        "future timestamp": signed(raw, at=NOW + 301),
        "tampered body": (header, raw.replace(b"UTR-evt_bad", b"UTR-evt_bax")),
        "garbled header": ("t=soon,v1=" + "0" * 64, raw),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "no signature",
        "wrong secret",
        "stale timestamp",
        "future timestamp",
        "tampered body",
        "garbled header",
    ],
)
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(
    tiffin: Tiffin, webhooks: PaymentWebhooks, payment: Payment, kind: str
) -> None:
    with pytest.raises(InvalidSignature):
        webhooks.receive(*bad_deliveries(payment)[kind])

    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING


def test_a_capture_for_the_wrong_amount_is_refused_and_the_payment_stays_pending(
    tiffin: Tiffin, webhooks: PaymentWebhooks, payment: Payment
) -> None:
    wrong = body(payment, "evt_short", "payment.captured", Money(payment.amount.minor - 1))

    with pytest.raises(AmountMismatch):
        webhooks.receive(*signed(wrong))

    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING


@pytest.mark.parametrize(
    "raw", [b"not json", b"{}", b'{"id": "e", "type": "payment.refunded", "payment_id": "x"}']
)
def test_a_signed_body_that_is_no_gateway_event_is_refused(
    webhooks: PaymentWebhooks, raw: bytes
) -> None:
    with pytest.raises(MalformedWebhook):
        webhooks.receive(*signed(raw))


def test_the_platform_generates_its_webhook_secret_once_into_the_data_directory(
    tiffin: Tiffin, payment: Payment
) -> None:
    secret_file = tiffin.settings.data_dir / "payment-webhook.secret"
    secret = secret_file.read_bytes().strip()
    raw = body(payment, "evt_live", "payment.captured")

    outcome = tiffin.webhooks.receive(signature_header(secret, raw, int(time.time())), raw)

    assert outcome is WebhookOutcome.APPLIED
    assert secret_file.stat().st_mode & 0o077 == 0
