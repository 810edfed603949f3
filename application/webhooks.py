"""Payment gateway webhooks: signed events that capture, fail or refund payments.

Contract (API.md): header ``Tiffin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>``; body ``{"id", "type", "payment_id", "gateway_ref", "amount"}``. A bad or
missing signature, or ``t`` more than 300 s away, changes nothing. The same gateway event again
has no second effect: the events it caused carry its id as their correlation id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from application.errors import ConcurrentChange, NotFound
from application.payments import Payments
from domain.errors import IllegalTransition, InvalidCommand, InvalidMoney
from domain.values import Cause, Money, Role

SIGNATURE_TOLERANCE_SECONDS = 300
GATEWAY_ACTOR = "upi-gateway"
EVENT_TYPES = ("payment.captured", "payment.failed", "refund.processed")
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits (str.isdigit() takes "²" too)
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class InvalidSignature(Exception):
    """The webhook is not signed with our secret, or was signed too long ago."""


class MalformedWebhook(InvalidCommand):
    """The signed body is not a gateway event we understand."""


class WebhookNotJson(MalformedWebhook):
    """The signed body is not JSON at all."""


class WebhookOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this gateway event was handled before
    IGNORED = "ignored"  # no longer applies (e.g. a failure reported after the capture)
    QUEUED = "queued"  # it outran the saga: kept in the inbox, applied once the payment exists


def signature_header(secret: bytes, body: bytes, at: int) -> str:
    """The ``Tiffin-Signature`` value a gateway sends with ``body`` at unix time ``at``."""
    digest = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


@dataclass(frozen=True)
class WebhookSignatures:
    secret: bytes
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS

    def verify(self, header: str | None, body: bytes, now: float) -> None:
        parts = [part.split("=", 1) for part in (header or "")[:4096].split(",") if "=" in part]
        stamps = [value.strip() for key, value in parts if key.strip() == "t"]
        signatures = [value.strip() for key, value in parts if key.strip() == "v1"]
        if len(stamps) != 1 or not UNIX_SECONDS.fullmatch(stamps[0]) or not signatures:
            raise InvalidSignature("missing or malformed Tiffin-Signature header")
        at = int(stamps[0])
        if abs(now - at) > self.tolerance_seconds:
            raise InvalidSignature(
                f"signature timestamp is more than {self.tolerance_seconds} s away"
            )
        expected = signature_header(self.secret, body, at).rsplit("v1=", 1)[1]
        hexes = [candidate for candidate in signatures if HEX_DIGEST.fullmatch(candidate)]
        if not any(hmac.compare_digest(expected, candidate) for candidate in hexes):
            raise InvalidSignature("signature does not match the body")


@dataclass(frozen=True)
class GatewayEvent:
    id: str
    type: str
    payment_id: UUID
    gateway_ref: str
    amount: Money
    reason: str

    @classmethod
    def parse(cls, body: bytes) -> GatewayEvent:
        try:
            data: dict[str, Any] = json.loads(body)
        except RecursionError:
            raise MalformedWebhook("not a gateway event: nested too deeply") from None
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise WebhookNotJson(f"the body is not JSON: {error}"[:300]) from None
        try:
            amount = data["amount"]
            event = cls(
                id=str(data["id"]),
                type=str(data["type"]),
                payment_id=UUID(str(data["payment_id"])),
                gateway_ref=str(data.get("gateway_ref") or ""),
                amount=Money.parse(str(amount["amount"]), str(amount.get("currency", "INR"))),
                reason=str(data.get("reason") or "declined by the payer's bank"),
            )
        except (ValueError, KeyError, TypeError, AttributeError, InvalidMoney) as error:
            raise MalformedWebhook(f"not a gateway event: {error}"[:300]) from None
        if not event.id or event.type not in EVENT_TYPES:
            raise MalformedWebhook(f"unknown event type {event.type!r}; expected {EVENT_TYPES}")
        return event


class PaymentWebhooks:
    """Verifies gateway webhooks and applies each gateway event at most once."""

    def __init__(
        self,
        payments: Payments,
        signatures: WebhookSignatures,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.payments = payments
        self.signatures = signatures
        self.clock = clock

    def receive(self, signature: str | None, body: bytes) -> WebhookOutcome:
        self.signatures.verify(signature, body, self.clock())
        return self.apply(GatewayEvent.parse(body))

    def apply(self, event: GatewayEvent) -> WebhookOutcome:
        """Applies a verified gateway event once; NotFound if its payment does not exist."""
        try:
            return self._apply(event)
        except ConcurrentChange:  # the same event delivered twice at once: the other won
            return self._apply(event)

    def _apply(self, event: GatewayEvent) -> WebhookOutcome:
        history = self.payments.history(event.payment_id)
        if not history:
            raise NotFound("payment", event.payment_id)
        correlation_id = f"gateway:{event.id}"
        if any(e.cause.correlation_id == correlation_id for e in history):
            return WebhookOutcome.DUPLICATE
        cause = Cause(GATEWAY_ACTOR, Role.SYSTEM, correlation_id)
        try:
            self._change(event, cause)
        except IllegalTransition:
            return WebhookOutcome.IGNORED
        return WebhookOutcome.APPLIED

    def _change(self, event: GatewayEvent, cause: Cause) -> None:
        payment_id, amount, reference = event.payment_id, event.amount, event.gateway_ref
        if event.type == "payment.captured":
            self.payments.capture_payment(payment_id, amount, reference, cause)
        elif event.type == "payment.failed":
            self.payments.fail_payment(payment_id, event.reason, cause)
        else:
            self.payments.complete_refund(payment_id, amount, reference, cause)
