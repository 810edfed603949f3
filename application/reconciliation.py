"""Reconciliation: payments whose webhook never came are looked up at the gateway.

A payment that is still ``pending`` or ``refund_pending`` ``after_seconds`` after it started
waiting (a gateway dropped the webhook, or a crash lost it) is asked about with the gateway's
status call, and what the gateway says is applied as its webhook would have been: through
``PaymentWebhooks.apply``, so the payment's rules decide and nothing is applied twice (an event
id per payment and outcome; a webhook arriving later finds the payment moved on). Each waiting
payment is an item of the ``reconcile`` queue; while the gateway still says "pending" it is
asked again every ``after_seconds``. A payment about to expire is asked about first too
(``deadlines.py``): money taken whose webhook was lost pays the order instead of cancelling it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from application.circuit_breaker import BreakerOpen
from application.gateway import GatewayState, PaymentAtGateway, UpiGateway
from application.payments import Payments
from application.webhooks import GatewayEvent, PaymentWebhooks, WebhookOutcome
from application.work import Cancel, Change, Done, EventChanges, Later, Outcome, Schedule, WorkItem
from domain.payment import Payment, PaymentStatus
from domain.values import Money

QUEUE = "reconcile"
WAITING = frozenset({PaymentStatus.PENDING, PaymentStatus.REFUND_PENDING})
PAID = frozenset({GatewayState.CAPTURED, GatewayState.REFUND_PENDING, GatewayState.REFUNDED})


def reconcile_changes(after_seconds: float) -> Mapping[str, EventChanges]:
    """A payment starts waiting when requested or when its refund is; it stops when settled."""

    def watch(event: Any) -> Sequence[Change]:
        since = event.timestamp.timestamp()
        payload = {"payment_id": str(event.originator_id), "since": since}
        return [Schedule(f"payment:{event.originator_id}", since + after_seconds, payload)]

    def settled(event: Any) -> Sequence[Change]:
        return [Cancel(f"payment:{event.originator_id}")]

    return {
        "Payment.Requested": watch,
        "Payment.Captured": settled,
        "Payment.Failed": settled,
        "Payment.Expired": settled,
        "Payment.RefundRequested": watch,
        "Payment.Refunded": settled,
    }


def stranded(items: Sequence[WorkItem], now: float, after_seconds: float) -> int:
    """How many payments have waited longer than ``after_seconds`` (the queue's items)."""
    return sum(1 for item in items if float(item.payload["since"]) + after_seconds <= now)


def events_to_apply(found: PaymentAtGateway) -> list[GatewayEvent]:
    """The webhooks the gateway's answer stands for, in the order they would have come."""
    events: list[GatewayEvent] = []

    def add(kind: str, reference: str, amount: Money) -> None:
        event_id = f"reconcile:{found.payment_id}:{kind}"
        reason = found.reason or "the gateway reports the payment failed"
        event = GatewayEvent(event_id, kind, found.payment_id, reference, amount, reason)
        events.append(event)

    if found.state in PAID and found.amount is not None:
        add("payment.captured", found.gateway_ref, found.amount)
    if found.state is GatewayState.REFUNDED and found.refund_amount is not None:
        add("refund.processed", found.refund_ref, found.refund_amount)
    if found.state is GatewayState.FAILED and found.amount is not None:
        add("payment.failed", found.gateway_ref, found.amount)
    return events


@dataclass(frozen=True)
class Reconciled:
    payment_id: UUID
    was: PaymentStatus
    gateway_said: GatewayState | None  # None: not asked (it no longer waits)
    now: PaymentStatus
    applied: int  # how many of the gateway's outcomes changed the payment


@dataclass
class Reconciliation:
    payments: Payments
    gateway: UpiGateway
    webhooks: PaymentWebhooks
    after_seconds: float

    def __call__(self, item: WorkItem) -> Outcome:
        """The reconcile queue's handler: asks again later while the payment still waits."""
        try:
            result = self.reconcile(UUID(item.payload["payment_id"]))
        except BreakerOpen as open_circuit:
            return Later(open_circuit.retry_in)
        return Later(self.after_seconds) if result.now in WAITING else Done()

    def reconcile(self, payment_id: UUID) -> Reconciled:
        """Asks the gateway about one payment (if it still waits) and applies the answer."""
        payment = self.payments.get_payment(payment_id)
        if payment.status not in WAITING:
            return Reconciled(payment_id, payment.status, None, payment.status, 0)
        found = self.gateway.status(payment_id)
        outcomes = [self.webhooks.apply(event) for event in events_to_apply(found)]
        now: Payment = self.payments.get_payment(payment_id)
        applied = sum(outcome is WebhookOutcome.APPLIED for outcome in outcomes)
        return Reconciled(payment_id, payment.status, found.state, now.status, applied)
