"""Payment aggregate: one UPI payment per order, and at most one refund of it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    AmountMismatch,
    IllegalTransition,
    InvalidMoney,
    RefundAlreadyRequested,
    RefundExceedsCapture,
)
from domain.values import Cause, Money, require_text

PAYMENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://tiffin.invalid/payments")


def payment_id_for(order_id: UUID) -> UUID:
    """Each order has exactly one payment, whose id derives from the order's."""
    return uuid5(PAYMENT_NAMESPACE, str(order_id))


class PaymentStatus(StrEnum):
    PENDING = "pending"
    CAPTURED = "captured"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    FAILED = "failed"
    EXPIRED = "expired"


CAPTURABLE = frozenset({PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.EXPIRED})
LATE_CAPTURE_REASON = "paid after the payment was closed"


@dataclass(frozen=True)
class Refund:
    amount: Money
    reason: str
    gateway_ref: str | None = None


class Payment(Aggregate):
    @classmethod
    def request(
        cls, *, order_id: UUID, amount: Money, vpa: str, upi_uri: str, cause: Cause
    ) -> Payment:
        if not amount.is_positive():
            raise InvalidMoney(f"a payment must be for more than zero, got {amount}")
        return cls(
            order_id=order_id,
            amount=amount,
            vpa=require_text(vpa, "UPI VPA", 255),
            upi_uri=require_text(upi_uri, "UPI URI", 2000),
            cause=cause,
        )

    @staticmethod
    def create_id(order_id: UUID) -> UUID:
        return payment_id_for(order_id)

    @event("Requested")
    def __init__(
        self, *, order_id: UUID, amount: Money, vpa: str, upi_uri: str, cause: Cause
    ) -> None:
        self.order_id = order_id
        self.amount = amount
        self.vpa = vpa
        self.upi_uri = upi_uri
        self.status = PaymentStatus.PENDING
        self.gateway_ref: str | None = None
        self.failure_reason: str | None = None
        self.refund: Refund | None = None

    @property
    def refunds(self) -> tuple[Refund, ...]:
        return () if self.refund is None else (self.refund,)

    def _require(self, status: PaymentStatus, action: str) -> None:
        if self.status is not status:
            raise IllegalTransition("payment", action, self.status)

    def capture(self, amount: Money, gateway_ref: str, cause: Cause) -> None:
        """The payer paid. Money that arrives after the payment was closed (failed or expired,
        its order cancelled) is taken and at once asked back: a refund of all of it."""
        if self.status not in CAPTURABLE:
            raise IllegalTransition("payment", "capture", self.status)
        if amount != self.amount:
            raise AmountMismatch(f"payment is for {self.amount}, the gateway reported {amount}")
        closed = self.status is not PaymentStatus.PENDING
        reference = require_text(gateway_ref, "gateway reference")
        self._captured(order_id=self.order_id, gateway_ref=reference, cause=cause)
        if closed:
            refund = Refund(self.amount, LATE_CAPTURE_REASON)
            self._refund_requested(order_id=self.order_id, refund=refund, cause=cause)

    @event("Captured")
    def _captured(self, order_id: UUID, gateway_ref: str, cause: Cause) -> None:
        self.status = PaymentStatus.CAPTURED
        self.gateway_ref = gateway_ref

    def fail(self, reason: str, cause: Cause) -> None:
        self._require(PaymentStatus.PENDING, "fail")
        reason = require_text(reason, "reason", 500)
        self._failed(order_id=self.order_id, reason=reason, cause=cause)

    @event("Failed")
    def _failed(self, order_id: UUID, reason: str, cause: Cause) -> None:
        self.status = PaymentStatus.FAILED
        self.failure_reason = reason

    def expire(self, cause: Cause) -> None:
        self._require(PaymentStatus.PENDING, "expire")
        self._expired(order_id=self.order_id, cause=cause)

    @event("Expired")
    def _expired(self, order_id: UUID, cause: Cause) -> None:
        self.status = PaymentStatus.EXPIRED

    def request_refund(self, amount: Money, reason: str, cause: Cause) -> None:
        if self.refund is not None:
            raise RefundAlreadyRequested(f"payment {self.id} already has a refund")
        self._require(PaymentStatus.CAPTURED, "refund")
        if not amount.is_positive() or amount.currency != self.amount.currency:
            raise InvalidMoney(f"a refund must be a positive {self.amount.currency} amount")
        if amount > self.amount:
            raise RefundExceedsCapture(f"cannot refund {amount} of a {self.amount} payment")
        refund = Refund(amount, require_text(reason, "reason", 500))
        self._refund_requested(order_id=self.order_id, refund=refund, cause=cause)

    @event("RefundRequested")
    def _refund_requested(self, order_id: UUID, refund: Refund, cause: Cause) -> None:
        self.status = PaymentStatus.REFUND_PENDING
        self.refund = refund

    def complete_refund(self, amount: Money, gateway_ref: str, cause: Cause) -> None:
        """The gateway paid the refund back: only for the exact amount that was requested."""
        self._require(PaymentStatus.REFUND_PENDING, "complete the refund of")
        assert self.refund is not None
        if amount != self.refund.amount:
            raise AmountMismatch(
                f"refund is for {self.refund.amount}, the gateway reported {amount}"
            )
        reference = require_text(gateway_ref, "gateway reference")
        self._refunded(order_id=self.order_id, gateway_ref=reference, cause=cause)

    @event("Refunded")
    def _refunded(self, order_id: UUID, gateway_ref: str, cause: Cause) -> None:
        assert self.refund is not None
        self.status = PaymentStatus.REFUNDED
        self.refund = Refund(self.refund.amount, self.refund.reason, gateway_ref)
