"""A UPI gateway over HTTP (``TIFFIN_PAYMENT_GATEWAY=http``).

``POST {base}/v1/collects`` with ``{payment_id, vpa, amount: {amount, currency}, note}`` and
``POST {base}/v1/refunds`` with ``{payment_id, gateway_ref, amount, reason}``, each with
``Authorization: Bearer <key>`` and ``Idempotency-Key: <payment id>[:refund]``; the answer is
``{"gateway_ref": "..."}``. ``GET {base}/v1/payments/{payment_id}`` is the status call
reconciliation makes: ``{"status": "pending" | "captured" | "failed" | "refund_pending" |
"refunded", "gateway_ref", "amount": {amount, currency}, "refund": {"gateway_ref", "amount"}
| null, "reason"}``, or 404 for a payment the gateway was never asked to collect. 5xx answers,
time-outs and refused connections are retryable; other 4xx answers are rejections.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from uuid import UUID

from application.gateway import (
    CollectRequest,
    GatewayRejected,
    GatewayState,
    GatewayUnavailable,
    PaymentAtGateway,
    RefundRequest,
)
from domain.values import Money

DEFAULT_TIMEOUT_SECONDS = 10.0


def _money(amount: Money) -> dict[str, str]:
    return {"amount": amount.amount_text, "currency": amount.currency}


def _parse_money(value: Any) -> Money | None:
    if value is None:
        return None
    return Money.parse(str(value["amount"]), str(value.get("currency", "INR")))


class _NoSuchPayment(GatewayRejected):
    """404: the gateway has no such payment."""


class HttpUpiGateway:
    def __init__(
        self, base_url: str, api_key: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds

    def collect(self, request: CollectRequest) -> str:
        body = {
            "payment_id": str(request.payment_id),
            "vpa": request.vpa,
            "amount": _money(request.amount),
            "note": request.note,
        }
        return self._post("/v1/collects", body, idempotency_key=str(request.payment_id))

    def refund(self, request: RefundRequest) -> str:
        body = {
            "payment_id": str(request.payment_id),
            "gateway_ref": request.gateway_ref,
            "amount": _money(request.amount),
            "reason": request.reason,
        }
        return self._post("/v1/refunds", body, idempotency_key=f"{request.payment_id}:refund")

    def status(self, payment_id: UUID) -> PaymentAtGateway:
        try:
            answer = self._send("GET", f"/v1/payments/{payment_id}", None, {})
        except _NoSuchPayment:
            return PaymentAtGateway(payment_id, GatewayState.UNKNOWN)
        try:
            refund = answer.get("refund") or {}
            return PaymentAtGateway(
                payment_id,
                GatewayState(answer["status"]),
                gateway_ref=str(answer.get("gateway_ref") or ""),
                amount=_parse_money(answer.get("amount")),
                refund_ref=str(refund.get("gateway_ref") or ""),
                refund_amount=_parse_money(refund.get("amount")),
                reason=str(answer.get("reason") or ""),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise GatewayUnavailable(f"gateway status answer not understood: {error!r}") from None

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> str:
        answer = self._send("POST", path, body, {"Idempotency-Key": idempotency_key})
        reference = answer.get("gateway_ref")
        if not isinstance(reference, str) or not reference:
            raise GatewayUnavailable(f"gateway answer has no gateway_ref: {answer!r}")
        return reference

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> dict[str, Any]:
        call = urllib.request.Request(  # noqa: S310 (the URL is the configured gateway's)
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(call, timeout=self.timeout_seconds) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read()[:500].decode(errors="replace")
            if error.code >= 500 or error.code == 429:
                raise GatewayUnavailable(f"gateway answered {error.code}: {detail}") from None
            if error.code == 404:
                raise _NoSuchPayment(f"gateway answered 404: {detail}") from None
            raise GatewayRejected(f"gateway answered {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise GatewayUnavailable(f"gateway unreachable: {error}") from None
        except ValueError:
            raise GatewayUnavailable("gateway answered with something other than JSON") from None
        if not isinstance(answer, dict):
            raise GatewayUnavailable(f"gateway answer is not an object: {answer!r}")
        return answer
