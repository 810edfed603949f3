"""The saga's deadlines: payment expiry, restaurant acceptance timeout, courier assignment retry.

Events schedule and cancel them (a deadline is due a fixed time after the event that starts
its clock); the scheduler fires those that fall due. Firing is a command whose domain rules
make a second firing, or a firing after the awaited thing happened, change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from application.circuit_breaker import BreakerOpen
from application.deliveries import Deliveries
from application.errors import ConcurrentChange
from application.gateway import GatewayUnavailable
from application.ordering import Ordering
from application.payments import Payments
from application.work import Cancel, Change, Done, EventChanges, Later, Outcome, Schedule, WorkItem
from domain.errors import StateConflict
from domain.values import Cause, Role

QUEUE = "deadlines"
PAYMENT_EXPIRY = "payment-expiry"
ACCEPTANCE_TIMEOUT = "acceptance-timeout"
COURIER_ASSIGNMENT = "courier-assignment"
SCHEDULER_ACTOR = "deadline-scheduler"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadlineTimes:
    payment_expiry_seconds: float
    acceptance_timeout_seconds: float
    assignment_retry_seconds: float


def deadline_changes(times: DeadlineTimes) -> Mapping[str, EventChanges]:
    """Which events start and stop which deadline's clock."""

    def starts(kind: str, seconds: float, subject: str = "originator_id") -> EventChanges:
        def schedule(event: Any) -> Sequence[Change]:
            key = f"{kind}:{getattr(event, subject)}"
            due_at = event.timestamp.timestamp() + seconds
            return [Schedule(key, due_at, {"kind": kind, "id": str(event.originator_id)})]

        return schedule

    def stops(kind: str) -> EventChanges:
        return lambda event: [Cancel(f"{kind}:{event.originator_id}")]

    return {
        "Payment.Requested": starts(PAYMENT_EXPIRY, times.payment_expiry_seconds),
        "Payment.Captured": stops(PAYMENT_EXPIRY),
        "Payment.Failed": stops(PAYMENT_EXPIRY),
        "Payment.Expired": stops(PAYMENT_EXPIRY),
        "Order.Paid": starts(ACCEPTANCE_TIMEOUT, times.acceptance_timeout_seconds),
        "Order.Accepted": stops(ACCEPTANCE_TIMEOUT),
        "Order.Rejected": stops(ACCEPTANCE_TIMEOUT),
        "Order.Cancelled": stops(ACCEPTANCE_TIMEOUT),
        "Delivery.Requested": starts(COURIER_ASSIGNMENT, times.assignment_retry_seconds),
        "Delivery.Unassigned": starts(COURIER_ASSIGNMENT, times.assignment_retry_seconds),
        "Delivery.Assigned": stops(COURIER_ASSIGNMENT),
        "Delivery.Cancelled": stops(COURIER_ASSIGNMENT),
    }


@dataclass
class DeadlineFiring:
    ordering: Ordering
    payments: Payments
    deliveries: Deliveries
    times: DeadlineTimes
    ask_gateway: Callable[[UUID], object] = lambda _: None  # reconciles one payment

    def __call__(self, item: WorkItem) -> Outcome:
        kind, subject = item.payload["kind"], UUID(item.payload["id"])
        cause = Cause(SCHEDULER_ACTOR, Role.SYSTEM, f"deadline:{item.key}")
        try:
            if kind == PAYMENT_EXPIRY:
                self._ask_gateway_first(subject)
                self.payments.expire_payment(subject, cause)
            elif kind == ACCEPTANCE_TIMEOUT:
                minutes = self.times.acceptance_timeout_seconds / 60
                reason = f"the restaurant did not accept the order within {minutes:g} minutes"
                self.ordering.reject_order(subject, reason, cause)
            elif not self.deliveries.retry_assignment(subject, cause):
                return Later(self.times.assignment_retry_seconds)
        except ConcurrentChange:
            raise  # someone changed it meanwhile: try again soon
        except StateConflict:
            pass  # what the deadline waited for has happened, or it fired before
        return Done()

    def _ask_gateway_first(self, payment_id: UUID) -> None:
        """A payment about to expire may have been paid with its webhook lost: the gateway's
        answer is applied first (if the gateway cannot answer, it expires; money that comes
        later is refunded)."""
        try:
            self.ask_gateway(payment_id)
        except (GatewayUnavailable, BreakerOpen) as error:
            log.warning("payment %s expires unchecked: %s", payment_id, error)
