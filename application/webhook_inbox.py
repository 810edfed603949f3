"""Webhooks that outrun the saga.

A new order's answer names its payment, so a customer can pay at once, and the gateway's capture
webhook may arrive before Payments has processed ``Order.Placed``. The inbox then waits (up to
the configured read wait) for Payments to process the Ordering log as far as it was when the
webhook came. If the payment exists by then, the webhook is applied; if Payments got that far
and there is still no payment, no order ever had it: 404. If Payments is behind (its worker is
down), the verified webhook is kept as a work item of the ``inbox`` queue and answered 202; the
queue applies it once the payment exists, exactly once (gateway events are deduplicated by id).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application

from application.errors import NotFound
from application.payments import Payments
from application.webhooks import GatewayEvent, PaymentWebhooks, WebhookOutcome
from application.work import Done, Later, Outcome, Park, WorkItem
from domain.topics import event_topic

QUEUE = "inbox"
LEADER = "Ordering"  # the log whose Order.Placed events make payments
RETRY_SECONDS = 1.0
Hold = Callable[[str, dict[str, Any]], None]  # keeps a work item (key, payload) in the inbox


class SagaProgress:
    """How far Payments has processed the Ordering log."""

    def __init__(self, payments: Payments, ordering: Application[Any], every: float = 0.02) -> None:
        self.payments = payments
        self.ordering = ordering
        self.every = every
        self.followed = [event_topic(qualname) for qualname in payments.reactions()]

    def head(self) -> int:
        return self.ordering.recorder.max_notification_id() or 0

    def reached(self, head: int) -> bool:
        """Whether every event up to ``head`` that Payments reacts to has been processed
        (its position stays at the last of those: it reads only what it reacts to)."""
        tracked = self.payments.recorder.max_tracking_id(LEADER) or 0
        if tracked >= head:
            return True
        pending = self.ordering.recorder.select_notifications(
            start=tracked + 1, limit=1, stop=head, topics=self.followed
        )
        return not pending

    def wait(self, head: int, seconds: float) -> bool:
        """True once Payments has processed the Ordering log up to ``head`` (False after
        ``seconds``)."""
        deadline = time.monotonic() + seconds
        while not self.reached(head):
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.every)
        return True


class WebhookInbox:
    def __init__(
        self,
        webhooks: PaymentWebhooks,
        progress: SagaProgress,
        hold: Hold,
        wait_seconds: float,
    ) -> None:
        self.webhooks = webhooks
        self.progress = progress
        self.hold = hold
        self.wait_seconds = wait_seconds

    def saga_caught_up(self) -> bool:
        """Waits (up to the read wait) until Payments has processed the orders log as far as
        it is now: then a payment that does not exist has no order."""
        return self.progress.wait(self.progress.head(), self.wait_seconds)

    def receive(self, signature: str | None, body: bytes) -> WebhookOutcome:
        """As ``PaymentWebhooks.receive``, for payments the saga has not created yet too."""
        try:
            return self.webhooks.receive(signature, body)
        except NotFound:
            head = self.progress.head()
            if self.progress.wait(head, self.wait_seconds):
                return self.webhooks.apply(GatewayEvent.parse(body))  # NotFound: never will
        event = GatewayEvent.parse(body)  # verified by the receive above
        kept = {"body": base64.b64encode(body).decode(), "ordering_head": head}
        self.hold(f"webhook:{event.id}", kept)
        return WebhookOutcome.QUEUED

    def __call__(self, item: WorkItem) -> Outcome:
        """The inbox queue's handler: applies a kept webhook once its payment exists."""
        event = GatewayEvent.parse(base64.b64decode(str(item.payload["body"])))
        try:
            self.webhooks.apply(event)
        except NotFound:
            if self.progress.reached(int(item.payload["ordering_head"])):
                return Park(f"no payment {event.payment_id}: no order was placed for it")
            return Later(RETRY_SECONDS)
        return Done()
