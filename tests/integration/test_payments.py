"""Payments: UPI intent URIs, exact capture, and at most one refund."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from application.errors import ConcurrentChange
from domain.errors import AmountMismatch, RefundAlreadyRequested, RefundExceedsCapture
from domain.payment import Payment, PaymentStatus, payment_id_for
from domain.values import Money
from tests.scenario import SAGA, pending_payment
from wiring.bootstrap import Tiffin


@pytest.fixture
def payment(tiffin: Tiffin) -> Payment:
    return pending_payment(tiffin)


def test_a_payment_carries_a_upi_intent_uri_for_the_merchant(
    tiffin: Tiffin, payment: Payment
) -> None:
    uri = urlsplit(payment.upi_uri)
    query = {k: v[0] for k, v in parse_qs(uri.query).items()}

    assert (uri.scheme, uri.netloc) == ("upi", "pay")
    assert query["pa"] == tiffin.settings.merchant_vpa
    assert query["pn"] == tiffin.settings.merchant_name
    assert query["tr"] == str(payment.id)
    assert query["am"] == "315.50"
    assert query["cu"] == "INR"


def test_each_order_has_one_payment_whose_id_derives_from_the_order(
    tiffin: Tiffin, payment: Payment
) -> None:
    assert payment.id == payment_id_for(payment.order_id)
    with pytest.raises(ConcurrentChange):
        tiffin.payments.request_payment(
            order_id=payment.order_id, amount=payment.amount, vpa="asha@okbank", cause=SAGA
        )


def test_a_capture_for_another_amount_is_refused_and_the_payment_stays_pending(
    tiffin: Tiffin, payment: Payment
) -> None:
    with pytest.raises(AmountMismatch):
        tiffin.payments.capture_payment(payment.id, Money.parse("315.49"), "UTR9", SAGA)

    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING


def test_a_captured_payment_is_refunded_once_and_never_above_what_was_taken(
    tiffin: Tiffin, payment: Payment
) -> None:
    tiffin.payments.capture_payment(payment.id, payment.amount, "UTR1", SAGA)
    with pytest.raises(RefundExceedsCapture):
        tiffin.payments.request_refund(payment.id, "rejected", SAGA, Money.parse("315.51"))

    tiffin.payments.request_refund(payment.id, "restaurant rejected the order", SAGA)
    with pytest.raises(RefundAlreadyRequested):
        tiffin.payments.request_refund(payment.id, "again", SAGA)
    tiffin.payments.complete_refund(payment.id, payment.amount, "RFND1", SAGA)

    refunded = tiffin.payments.get_payment(payment.id)
    assert refunded.status is PaymentStatus.REFUNDED
    assert [r.amount for r in refunded.refunds] == [payment.amount]
