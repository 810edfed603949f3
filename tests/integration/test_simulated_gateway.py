"""The simulated gateway pays through the signed-webhook path, as a real gateway would."""

from __future__ import annotations

from collections.abc import Callable

from adapters.simulated_gateway import SimulatedUpiGateway
from application.gateway import CollectRequest, RefundRequest
from application.webhooks import PaymentWebhooks, WebhookSignatures
from domain.payment import PaymentStatus
from tests.scenario import SAGA, pending_payment
from wiring.bootstrap import Tiffin

SECRET = b"simulated-secret"


class Scheduled:
    """Collects what the gateway schedules, so the test decides when time has passed."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, seconds: float, action: Callable[[], None]) -> None:
        self.pending.append((seconds, action))

    def run_all(self) -> list[float]:
        delays = [seconds for seconds, _ in self.pending]
        for _, action in self.pending:
            action()
        self.pending.clear()
        return delays


def test_the_simulated_gateway_captures_then_refunds_through_signed_webhooks(
    tiffin: Tiffin,
) -> None:
    payment = pending_payment(tiffin)
    scheduled = Scheduled()
    webhooks = PaymentWebhooks(tiffin.payments, WebhookSignatures(SECRET))
    gateway = SimulatedUpiGateway(webhooks, SECRET, delay_seconds=2, schedule=scheduled)

    reference = gateway.collect(CollectRequest(payment.id, payment.vpa, payment.amount, "note"))
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING
    assert scheduled.run_all() == [2]
    captured = tiffin.payments.get_payment(payment.id)
    assert (captured.status, captured.gateway_ref) == (PaymentStatus.CAPTURED, reference)

    tiffin.payments.request_refund(payment.id, "order rejected", SAGA)
    gateway.refund(RefundRequest(payment.id, reference, payment.amount, "order rejected"))
    scheduled.run_all()
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.REFUNDED
    correlations = [e.cause.correlation_id for e in tiffin.payments.history(payment.id)]
    assert sum(c.startswith("gateway:sim_") for c in correlations) == 2


def test_a_delay_of_minus_one_never_pays(tiffin: Tiffin) -> None:
    payment = pending_payment(tiffin)
    scheduled = Scheduled()
    webhooks = PaymentWebhooks(tiffin.payments, WebhookSignatures(SECRET))
    gateway = SimulatedUpiGateway(webhooks, SECRET, delay_seconds=-1, schedule=scheduled)

    gateway.collect(CollectRequest(payment.id, payment.vpa, payment.amount, "note"))

    assert scheduled.pending == []
    assert tiffin.payments.get_payment(payment.id).status is PaymentStatus.PENDING
