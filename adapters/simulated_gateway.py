"""The embedded default's UPI gateway: it pays every collect and refund by itself.

After ``TIFFIN_SIMULATED_CAPTURE_SECONDS`` it signs a ``payment.captured`` (or
``refund.processed``) event with the webhook secret and hands it to the platform's webhook
handler, the same code path a real gateway's webhook takes. ``-1`` means never: only webhooks
sent by hand move payments on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from application.gateway import CollectRequest, RefundRequest
from application.webhooks import PaymentWebhooks, signature_header
from domain.values import Money

Schedule = Callable[[float, Callable[[], None]], None]
NEVER = -1.0


def after_delay(seconds: float, action: Callable[[], None]) -> None:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()


class SimulatedUpiGateway:
    def __init__(
        self,
        webhooks: PaymentWebhooks,
        secret: bytes,
        delay_seconds: float,
        schedule: Schedule = after_delay,
    ) -> None:
        self.webhooks = webhooks
        self.secret = secret
        self.delay_seconds = delay_seconds
        self.schedule = schedule

    def collect(self, request: CollectRequest) -> str:
        reference = f"SIM-{request.payment_id.hex[:12]}"
        self._later("payment.captured", str(request.payment_id), reference, request.amount)
        return reference

    def refund(self, request: RefundRequest) -> str:
        reference = f"SIM-RF-{request.payment_id.hex[:12]}"
        self._later("refund.processed", str(request.payment_id), reference, request.amount)
        return reference

    def _later(self, kind: str, payment_id: str, reference: str, amount: Money) -> None:
        if self.delay_seconds == NEVER:
            return
        body = json.dumps(
            {
                "id": f"sim_{kind}_{payment_id}",  # a repeated call repeats the same event
                "type": kind,
                "payment_id": payment_id,
                "gateway_ref": reference,
                "amount": {"amount": str(amount.amount), "currency": amount.currency},
            }
        ).encode()

        def deliver() -> None:
            self.webhooks.receive(signature_header(self.secret, body, int(time.time())), body)

        self.schedule(self.delay_seconds, deliver)
