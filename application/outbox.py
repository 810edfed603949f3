"""The outbox: calls to the UPI gateway, made from recorded payment events, at least once.

A requested payment becomes a collect call and a requested refund a refund call. Each call
carries the payment id as its idempotency key, so a call repeated after a crash has no second
effect at the gateway. Before calling, the payment is read again: a payment that no longer
waits for the call (paid meanwhile, or refunded) needs none. While the gateway's circuit breaker
is open, calls wait for it (``Later``, no attempt counted) instead of each failing on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from application.circuit_breaker import BreakerOpen
from application.gateway import CollectRequest, GatewayRejected, RefundRequest, UpiGateway
from application.payments import Payments
from application.work import Done, EventChanges, Later, Outcome, Park, Schedule, WorkItem
from domain.payment import PaymentStatus
from domain.values import Cause, Role

QUEUE = "outbox"
COLLECT, REFUND = "collect", "refund"
OUTBOX_ACTOR = "payment-outbox"


def _call(kind: str) -> EventChanges:
    def schedule(event: Any) -> list[Schedule]:
        payment_id = str(event.originator_id)
        due_at = event.timestamp.timestamp()
        return [Schedule(f"{kind}:{payment_id}", due_at, {"kind": kind, "payment_id": payment_id})]

    return schedule


OUTBOX_CHANGES: Mapping[str, EventChanges] = {
    "Payment.Requested": _call(COLLECT),
    "Payment.RefundRequested": _call(REFUND),
}


@dataclass
class GatewayCalls:
    payments: Payments
    gateway: UpiGateway

    def __call__(self, item: WorkItem) -> Outcome:
        try:
            return self._call(item)
        except BreakerOpen as open_circuit:
            return Later(open_circuit.retry_in)

    def _call(self, item: WorkItem) -> Outcome:
        payment = self.payments.get_payment(UUID(item.payload["payment_id"]))
        if item.payload["kind"] == COLLECT:
            if payment.status is not PaymentStatus.PENDING:
                return Done()
            note = f"Tiffin order {str(payment.order_id)[:8]}"
            request = CollectRequest(payment.id, payment.vpa, payment.amount, note)
            try:
                self.gateway.collect(request)
            except GatewayRejected as refusal:
                cause = Cause(OUTBOX_ACTOR, Role.SYSTEM, f"outbox:{item.key}")
                self.payments.fail_payment(
                    payment.id, f"the gateway refused: {refusal}"[:500], cause
                )
            return Done()
        if payment.status is not PaymentStatus.REFUND_PENDING or payment.refund is None:
            return Done()
        refund = payment.refund
        assert payment.gateway_ref is not None  # a refund is only requested once captured
        try:
            self.gateway.refund(
                RefundRequest(payment.id, payment.gateway_ref, refund.amount, refund.reason)
            )
        except GatewayRejected as refusal:
            return Park(f"the gateway refused the refund: {refusal}")
        return Done()
