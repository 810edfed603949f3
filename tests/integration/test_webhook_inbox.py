"""A capture webhook that outruns the saga is kept, answered, and applied once the payment
exists; one for a payment no order has is refused. Both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from application.errors import NotFound
from application.settings import Settings, load_settings
from application.webhooks import WebhookOutcome, signature_header
from application.work import PARKED
from domain.order import OrderStatus
from domain.payment import PaymentStatus, payment_id_for
from domain.values import Role
from tests.scenario import ManualClock, cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

SAGA_WAIT_SECONDS = "0.2"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return load_settings(
        {
            "TIFFIN_DATA_DIR": str(settings.data_dir),
            "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
            "TIFFIN_READ_WAIT_SECONDS": SAGA_WAIT_SECONDS,
            **({"TIFFIN_DATABASE_URL": settings.database_url} if settings.database_url else {}),
        }
    )


@pytest.fixture
def tiffin(settings: Settings, clock: ManualClock) -> Iterator[Tiffin]:
    with bootstrap(settings, clock=clock) as platform:
        yield platform


def capture(tiffin: Tiffin, payment_id: UUID, amount: str) -> tuple[str, bytes]:
    body = json.dumps(
        {
            "id": f"evt_{uuid4().hex}",
            "type": "payment.captured",
            "payment_id": str(payment_id),
            "gateway_ref": "UTR123",
            "amount": {"amount": amount, "currency": "INR"},
        }
    ).encode()
    return signature_header(tiffin.webhooks.signatures.secret, body, int(time.time())), body


def test_a_capture_before_its_payment_exists_is_kept_and_applied_exactly_once(
    tiffin: Tiffin,
) -> None:
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))  # Payments has not run
    signature, body = capture(tiffin, payment_id_for(order.id), str(order.total.amount))
    inbox = tiffin.webhook_inbox()

    first = inbox.receive(signature, body)
    again = inbox.receive(signature, body)  # the gateway retries, as gateways do
    tiffin.runtime().run_until_idle()

    assert (first, again) == (WebhookOutcome.QUEUED, WebhookOutcome.QUEUED)
    payment = tiffin.payments.payment_of_order(order.id)
    assert payment.status is PaymentStatus.CAPTURED
    captures = [e for e in tiffin.payments.history(payment.id) if type(e).__name__ == "Captured"]
    assert len(captures) == 1
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.PENDING_ACCEPTANCE
    assert tiffin.work_store().items("inbox") == [], "nothing left in the inbox"
    assert inbox.receive(signature, body) is WebhookOutcome.DUPLICATE


def test_a_webhook_for_a_payment_no_order_has_is_not_found_once_the_saga_is_caught_up(
    tiffin: Tiffin,
) -> None:
    tiffin.runtime().run_until_idle()
    signature, body = capture(tiffin, uuid4(), "10.00")

    with pytest.raises(NotFound):
        tiffin.webhook_inbox().receive(signature, body)
    assert tiffin.work_store().items("inbox") == []


def test_a_kept_webhook_whose_payment_never_comes_is_parked_for_a_person(tiffin: Tiffin) -> None:
    place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))  # the saga is behind
    signature, body = capture(tiffin, uuid4(), "10.00")

    assert tiffin.webhook_inbox().receive(signature, body) is WebhookOutcome.QUEUED
    tiffin.runtime().run_until_idle()

    [kept] = tiffin.work_store().items("inbox")
    assert kept.status == PARKED
    assert "no order was placed for it" in kept.last_error
