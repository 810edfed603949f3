"""The payment gateway port: what the platform asks of a UPI gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

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


class UpiGateway(Protocol):
    """Calls are at least once: each carries the payment id as its idempotency key, so a
    repeated call has no second effect at the gateway. Outcomes arrive later as webhooks."""

    def collect(self, request: CollectRequest) -> str:
        """Sends a collect request to the payer's UPI app; returns the gateway's reference."""
        ...

    def refund(self, request: RefundRequest) -> str:
        """Refunds a captured payment; returns the gateway's refund reference."""
        ...
