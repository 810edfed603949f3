"""The embedded default's UPI gateway: it pays every collect and refund by itself, durably.

Each collect and refund is a row of ``tiffin_simulated_gateway`` (in the work database) that
settles ``TIFFIN_SIMULATED_CAPTURE_SECONDS`` after the call, and its webhook is a work item of
the ``simulated_webhooks`` queue due then, written in the same transaction: a worker killed
between the call and the webhook loses neither, and the next one sends it. The webhook is signed
with the webhook secret and handed to the platform's webhook handler, the same code path a real
gateway's webhook takes. The status call answers from the rows, so reconciliation works here as
it does against a real gateway. ``-1`` means never: only webhooks sent by hand move payments on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from adapters.sql import create_tables
from adapters.work_store import SqlWorkStore
from application.gateway import (
    CollectRequest,
    GatewayState,
    PaymentAtGateway,
    RefundRequest,
)
from application.webhooks import signature_header
from application.work import Done, Outcome, Schedule, WorkItem
from domain.values import Money

QUEUE = "simulated_webhooks"
NEVER = -1.0
COLLECT, REFUND = "collect", "refund"
CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS tiffin_simulated_gateway ("
    " payment_id TEXT NOT NULL, kind TEXT NOT NULL, reference TEXT NOT NULL,"
    " amount TEXT NOT NULL, currency TEXT NOT NULL, settles_at DOUBLE PRECISION,"
    " PRIMARY KEY (payment_id, kind))"
)
RECORD = (
    "INSERT INTO tiffin_simulated_gateway"
    " (payment_id, kind, reference, amount, currency, settles_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (payment_id, kind) DO NOTHING"
)
Receive = Callable[[str | None, bytes], Any]  # the platform's webhook handler


class SimulatedUpiGateway:
    def __init__(
        self, store: SqlWorkStore, delay_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.delay_seconds = delay_seconds
        self.clock = clock
        create_tables(store.database, [CREATE_TABLE], "tiffin-simulated-gateway-ddl")

    def collect(self, request: CollectRequest) -> str:
        reference = f"SIM-{request.payment_id.hex[:12]}"
        self._record(COLLECT, "payment.captured", request.payment_id, reference, request.amount)
        return reference

    def refund(self, request: RefundRequest) -> str:
        reference = f"SIM-RF-{request.payment_id.hex[:12]}"
        self._record(REFUND, "refund.processed", request.payment_id, reference, request.amount)
        return reference

    def status(self, payment_id: UUID) -> PaymentAtGateway:
        with self.store.database.transaction() as run:
            rows = run(
                "SELECT kind, reference, amount, currency, settles_at"
                " FROM tiffin_simulated_gateway WHERE payment_id = ?",
                (str(payment_id),),
            ).fetchall()
        now = self.clock()
        calls = {
            kind: (reference, Money.parse(amount, currency), settles_at)
            for kind, reference, amount, currency, settles_at in rows
        }
        if COLLECT not in calls:
            return PaymentAtGateway(payment_id, GatewayState.UNKNOWN)
        reference, amount, settles_at = calls[COLLECT]
        if settles_at is None or settles_at > now:
            return PaymentAtGateway(payment_id, GatewayState.PENDING)
        if REFUND not in calls:
            return PaymentAtGateway(payment_id, GatewayState.CAPTURED, reference, amount)
        refund_ref, refunded, refund_settles_at = calls[REFUND]
        paid_back = refund_settles_at is not None and refund_settles_at <= now
        state = GatewayState.REFUNDED if paid_back else GatewayState.REFUND_PENDING
        return PaymentAtGateway(
            payment_id,
            state,
            reference,
            amount,
            refund_ref if paid_back else "",
            refunded if paid_back else None,
        )

    def _record(
        self, kind: str, event: str, payment_id: UUID, reference: str, amount: Money
    ) -> None:
        """The call, and its webhook to come, in one transaction; a repeated call (the same
        payment and kind) changes nothing."""
        settles_at = None if self.delay_seconds == NEVER else self.clock() + self.delay_seconds
        row = (str(payment_id), kind, reference, str(amount.amount), amount.currency, settles_at)
        body = {
            "id": f"sim_{event}_{payment_id}",  # a repeated call repeats the same event
            "type": event,
            "payment_id": str(payment_id),
            "gateway_ref": reference,
            "amount": {"amount": str(amount.amount), "currency": amount.currency},
        }
        with self.store.database.transaction() as run:
            recorded = run(RECORD, row).rowcount == 1
            if recorded and settles_at is not None:
                webhook = Schedule(f"{event}:{payment_id}", settles_at, {"body": json.dumps(body)})
                self.store.record(run, QUEUE, [webhook])


class SimulatedWebhooks:
    """The ``simulated_webhooks`` queue's handler: signs each due webhook and delivers it."""

    def __init__(self, receive: Receive, secret: bytes) -> None:
        self.receive = receive
        self.secret = secret

    def __call__(self, item: WorkItem) -> Outcome:
        body = str(item.payload["body"]).encode()
        self.receive(signature_header(self.secret, body, int(time.time())), body)
        return Done()
