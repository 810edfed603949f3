"""``/v1/payments``: a payment as its order's parties see it, and the gateway's webhook."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.access import require_visible
from api.auth import allow
from api.dependencies import OrderingApp, Owners, PaymentsApp, Webhooks
from api.problems import ApiProblem, unauthorized, unavailable
from api.schemas.common import MoneyOut, money_out
from application.errors import NotFound
from application.identity import Identity
from application.webhooks import InvalidSignature, WebhookNotJson, WebhookOutcome
from domain.payment import Payment
from domain.values import Role

router = APIRouter(prefix="/v1/payments", tags=["payments"])
Reader = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER)]


class RefundOut(BaseModel):
    amount: MoneyOut
    reason: str
    status: str  # "pending" until the gateway confirms, then "refunded"
    at: Any


class PaymentPublic(BaseModel):
    id: UUID
    order_id: UUID
    status: str
    amount: MoneyOut
    vpa: str
    upi_uri: str
    gateway_ref: str | None
    refunds: list[RefundOut]


class WebhookAnswer(BaseModel):
    outcome: str  # applied, duplicate (no second effect), ignored (too late) or queued


@router.get("/{payment_id:uuid}", response_model=PaymentPublic)  # not /webhook
def get_payment(
    payment_id: UUID,
    caller: Reader,
    payments: PaymentsApp,
    ordering: OrderingApp,
    owners: Owners,
    webhooks: Webhooks,
) -> Any:
    try:
        payment = payments.load(Payment, payment_id)
    except NotFound:  # a new order's payment, before the saga has requested it: wait for it
        if not webhooks.saga_caught_up():
            raise unavailable(f"payment {payment_id} may not be requested yet") from None
        payment = payments.load(Payment, payment_id)  # still none: no order has it
    order = ordering.get_order(payment.order_id)
    require_visible(caller, order, owners, hidden=f"no payment with id {payment_id}")
    return payment_document(payment, payments.history(payment_id))


def payment_document(payment: Payment, history: list[Any]) -> dict[str, Any]:
    asked = next((e.timestamp for e in history if type(e).__name__ == "RefundRequested"), None)
    done = next((e.timestamp for e in history if type(e).__name__ == "Refunded"), None)
    return {
        "id": payment.id,
        "order_id": payment.order_id,
        "status": str(payment.status),
        "amount": money_out(payment.amount),
        "vpa": payment.vpa,
        "upi_uri": payment.upi_uri,
        "gateway_ref": payment.gateway_ref,
        "refunds": [
            {
                "amount": money_out(refund.amount),
                "reason": refund.reason,
                "status": "refunded" if done else "pending",
                "at": done or asked,
            }
            for refund in payment.refunds
        ],
    }


@router.post(
    "/webhook",
    response_model=WebhookAnswer,
    responses={202: {"model": WebhookAnswer, "description": "kept until its payment exists"}},
)
async def payment_webhook(
    request: Request,
    response: Response,
    webhooks: Webhooks,
    signature: Annotated[str | None, Header(alias="Tiffin-Signature")] = None,
) -> Any:
    """Signed gateway events (no bearer token): a bad signature or a stale one is a 401 and
    changes nothing; the same event again changes nothing more; a wrong amount is a 422. An
    event for a payment the saga has not requested yet is kept and applied once it exists
    (202, ``queued``); one for a payment no order has is a 404."""
    body = await request.body()
    try:
        outcome = await run_in_threadpool(webhooks.receive, signature, body)
    except InvalidSignature as error:
        raise unauthorized(str(error)) from None
    except WebhookNotJson as error:
        raise ApiProblem(400, str(error)) from None
    if outcome is WebhookOutcome.QUEUED:
        response.status_code = 202
    return {"outcome": str(outcome)}
