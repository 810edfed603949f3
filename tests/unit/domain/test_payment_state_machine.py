"""Payment: exact capture, failure or expiry, and at most one refund of no more than was paid."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from domain.errors import (
    AmountMismatch,
    DomainError,
    IllegalTransition,
    InvalidMoney,
    InvalidText,
    RefundAlreadyRequested,
    RefundExceedsCapture,
)
from domain.payment import LATE_CAPTURE_REASON, Payment
from domain.values import Money, Role
from tests.unit.domain.aggregate_machine import TEXTS, AggregateMachine, cause, is_blank, mostly

GATEWAY = cause(Role.SYSTEM, "upi-gateway")
SUPPORT = cause(Role.ADMIN, "support-1")
CURRENCIES = ("INR", "USD")


class PaymentMachine(AggregateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.status = "pending"
        self.amount = Money(1)
        self.other_currency = "USD"
        self.gateway_ref: str | None = None
        self.failure_reason: str | None = None
        self.refund: tuple[Money, str, str | None] | None = None  # amount, reason, gateway ref

    @initialize(
        minor=st.integers(min_value=1, max_value=10_000_000), currency=st.sampled_from(CURRENCIES)
    )
    def request(self, minor: int, currency: str) -> None:
        self.amount = Money(minor, currency)
        self.other_currency = next(c for c in CURRENCIES if c != currency)
        payment = Payment.request(
            order_id=UUID(int=1),
            amount=self.amount,
            vpa="asha@okbank",
            upi_uri="upi://pay?pa=tiffin@okbank",
            cause=GATEWAY,
        )
        self.created(payment, "Requested")

    def amounts(self, minors: list[int], currency: str | None = None) -> st.SearchStrategy[Money]:
        return st.sampled_from(minors).map(lambda m: Money(m, currency or self.amount.currency))

    def capture_amounts(self) -> st.SearchStrategy[Money]:
        """Mostly the payment's own amount; otherwise a near miss or another currency."""
        minor, other = self.amount.minor, self.other_currency
        wrong = self.amounts([minor - 1, minor + 1, 0]) | self.amounts([minor], other)
        return mostly(st.just(self.amount), wrong)

    def refund_amounts(self) -> st.SearchStrategy[Money]:
        """Half the time up to the whole payment; else too much, nothing or another currency."""
        minor, other = self.amount.minor, self.other_currency
        up_to_all = st.integers(min_value=1, max_value=minor).map(
            lambda m: Money(m, self.amount.currency)
        )
        wrong = self.amounts([minor + 1, minor * 2, 0, -minor]) | self.amounts([minor], other)
        return st.booleans().flatmap(lambda good: up_to_all if good else wrong)

    def status_must_be(self, status: str) -> list[type[DomainError]]:
        return [] if self.status == status else [IllegalTransition]

    @rule(data=st.data(), gateway_ref=TEXTS)
    def capture(self, data: st.DataObject, gateway_ref: str) -> None:
        amount = data.draw(self.capture_amounts())
        late = self.status in ("failed", "expired")  # money after closing goes straight back
        refusals = [] if late else self.status_must_be("pending")
        if amount != self.amount:
            refusals.append(AmountMismatch)
        if is_blank(gateway_ref):
            refusals.append(InvalidText)
        events = ("Captured", "RefundRequested") if late else ("Captured",)
        self.attempt(
            refusals, lambda: self.aggregate.capture(amount, gateway_ref, GATEWAY), *events
        )
        if not refusals:
            self.status, self.gateway_ref = "captured", gateway_ref.strip()
            if late:
                self.status = "refund_pending"
                self.refund = (self.amount, LATE_CAPTURE_REASON, None)

    @rule(reason=TEXTS)
    def fail(self, reason: str) -> None:
        refusals = self.status_must_be("pending")
        if is_blank(reason):
            refusals.append(InvalidText)
        self.attempt(refusals, lambda: self.aggregate.fail(reason, GATEWAY), "Failed")
        if not refusals:
            self.status, self.failure_reason = "failed", reason.strip()

    @rule()
    def expire(self) -> None:
        refusals = self.status_must_be("pending")
        self.attempt(refusals, lambda: self.aggregate.expire(GATEWAY), "Expired")
        if not refusals:
            self.status = "expired"

    @rule(data=st.data(), reason=TEXTS)
    def request_refund(self, data: st.DataObject, reason: str) -> None:
        amount = data.draw(self.refund_amounts())
        refusals: list[type[DomainError]]
        if self.refund is not None:
            refusals = [RefundAlreadyRequested]  # the named rule, whatever else is wrong
        else:
            refusals = self.status_must_be("captured")
            if amount.currency != self.amount.currency or amount.minor <= 0:
                refusals.append(InvalidMoney)
            elif amount.minor > self.amount.minor:
                refusals.append(RefundExceedsCapture)
            if is_blank(reason):
                refusals.append(InvalidText)
        self.attempt(
            refusals,
            lambda: self.aggregate.request_refund(amount, reason, SUPPORT),
            "RefundRequested",
        )
        if not refusals:
            self.status, self.refund = "refund_pending", (amount, reason.strip(), None)

    @rule(gateway_ref=TEXTS)
    def complete_refund(self, gateway_ref: str) -> None:
        refusals = self.status_must_be("refund_pending")
        if is_blank(gateway_ref):
            refusals.append(InvalidText)
        requested = self.amount if self.refund is None else self.refund[0]
        self.attempt(
            refusals,
            lambda: self.aggregate.complete_refund(requested, gateway_ref, GATEWAY),
            "Refunded",
        )
        if not refusals:
            assert self.refund is not None
            self.status = "refunded"
            self.refund = (self.refund[0], self.refund[1], gateway_ref.strip())

    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The next step of the happy path (with mostly good input), to reach refunds."""
        match self.status:
            case "pending":
                self.capture(data, data.draw(TEXTS))
            case "captured":
                self.request_refund(data, data.draw(TEXTS))
            case _:
                self.complete_refund(data.draw(TEXTS))

    @invariant()
    def the_model_matches_the_payment(self) -> None:
        payment = self.aggregate
        assert payment.status == self.status
        assert payment.amount == self.amount
        assert payment.gateway_ref == self.gateway_ref
        assert payment.failure_reason == self.failure_reason
        refund = payment.refund
        actual = None if refund is None else (refund.amount, refund.reason, refund.gateway_ref)
        assert actual == self.refund

    @invariant()
    def a_payment_has_at_most_one_refund_of_no_more_than_was_captured(self) -> None:
        payment = self.aggregate
        assert len(payment.refunds) <= 1
        for refund in payment.refunds:
            assert payment.status in {"refund_pending", "refunded"}
            assert payment.gateway_ref is not None  # it was captured first
            assert refund.amount.currency == payment.amount.currency
            assert 0 < refund.amount.minor <= payment.amount.minor


TestPaymentStateMachine = PaymentMachine.TestCase
TestPaymentStateMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


@pytest.mark.parametrize("minor", [0, -1])
def test_a_payment_for_nothing_or_less_is_refused(minor: int) -> None:
    with pytest.raises(InvalidMoney):
        Payment.request(
            order_id=UUID(int=1),
            amount=Money(minor),
            vpa="asha@okbank",
            upi_uri="upi://pay",
            cause=GATEWAY,
        )
