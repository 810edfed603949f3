"""The payment gateway port: what the platform asks of a UPI gateway."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from application.circuit_breaker import CircuitBreaker
from domain.values import Money


class GatewayUnavailable(Exception):
    """The gateway could not be reached or failed on its side; the call may be retried."""


class GatewayRejected(Exception):
    """The gateway refused the request as it stands; retrying it unchanged will not help."""


@dataclass(frozen=True)
class CollectRequest:
    payment_id: UUID
    vpa: str
    amount: Money
    note: str


@dataclass(frozen=True)
class RefundRequest:
    payment_id: UUID
    gateway_ref: str
    amount: Money
    reason: str


class GatewayState(StrEnum):
    """Where a payment stands at the gateway."""

    UNKNOWN = "unknown"  # the gateway was never asked to collect it
    PENDING = "pending"  # asked, not paid (yet)
    CAPTURED = "captured"
    FAILED = "failed"
    REFUND_PENDING = "refund_pending"  # captured, and a refund asked for, not paid back yet
    REFUNDED = "refunded"


@dataclass(frozen=True)
class PaymentAtGateway:
    """The gateway's answer to a status call: what it knows of one payment."""

    payment_id: UUID
    state: GatewayState
    gateway_ref: str = ""
    amount: Money | None = None  # what was captured
    refund_ref: str = ""
    refund_amount: Money | None = None  # what was paid back
    reason: str = ""  # why it failed


class UpiGateway(Protocol):
    """Calls are at least once: each carries the payment id as its idempotency key, so a
    repeated call has no second effect at the gateway. Outcomes arrive later as webhooks."""

    def collect(self, request: CollectRequest) -> str:
        """Sends a collect request to the payer's UPI app; returns the gateway's reference."""
        ...

    def refund(self, request: RefundRequest) -> str:
        """Refunds a captured payment; returns the gateway's refund reference."""
        ...

    def status(self, payment_id: UUID) -> PaymentAtGateway:
        """Looks the payment up: for reconciling payments whose webhook never came."""
        ...


@dataclass(frozen=True)
class GuardedGateway:
    """The gateway behind its circuit breaker: while it is failing, calls raise
    ``BreakerOpen`` at once instead of reaching it (one probe call per reset time)."""

    gateway: UpiGateway
    breaker: CircuitBreaker

    def collect(self, request: CollectRequest) -> str:
        return self.breaker.call(lambda: self.gateway.collect(request))

    def refund(self, request: RefundRequest) -> str:
        return self.breaker.call(lambda: self.gateway.refund(request))

    def status(self, payment_id: UUID) -> PaymentAtGateway:
        return self.breaker.call(lambda: self.gateway.status(payment_id))
