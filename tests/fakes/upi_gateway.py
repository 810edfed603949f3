"""A stand-in UPI gateway: a real HTTP server on 127.0.0.1 that the real adapter talks to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from application.settings import Settings
from tests.fakes.local_http import QuietHandler, local_server


@dataclass
class FakeGateway:
    """Answers collects and refunds; the same idempotency key always gets the same reference."""

    api_key: str = "test-gateway-key"
    failures: list[int] = field(default_factory=list)  # status codes to answer first, in order
    down_for: set[str] = field(default_factory=set)  # payment ids whose calls all answer 503
    down: bool = False  # every call answers 503
    requests: list[dict[str, Any]] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # what a status call says
    url: str = ""

    def settle(self, payment_id: object, state: str) -> None:
        """The payer paid (``captured``), or the bank paid the refund back (``refunded``)."""
        self.payments[str(payment_id)]["status"] = state

    def look_up(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append({"path": path, "headers": headers, "body": {}})
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "bad api key"}
        if self.down:
            return 503, {"error": "the gateway is down"}
        payment = self.payments.get(path.removeprefix("/v1/payments/"))
        if payment is None:
            return 404, {"error": "no such payment"}
        refunded = payment["status"] == "refunded"
        return 200, {**payment, "refund": payment.get("refund") if refunded else None}

    def _remember(self, path: str, body: dict[str, Any], reference: str) -> None:
        if path == "/v1/collects":
            payment = {"status": "pending", "gateway_ref": reference, "amount": body["amount"]}
            self.payments.setdefault(body["payment_id"], payment)
        elif path == "/v1/refunds" and body["payment_id"] in self.payments:
            payment = self.payments[body["payment_id"]]
            if payment["status"] == "captured":
                payment["status"] = "refund_pending"
            payment["refund"] = {"gateway_ref": reference, "amount": body["amount"]}

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        self.requests.append({"path": path, "headers": headers, "body": json.loads(body or b"{}")})
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "bad api key"}
        if self.failures:
            return self.failures.pop(0), {"error": "injected failure"}
        if self.down:
            return 503, {"error": "the gateway is down"}
        if json.loads(body or b"{}").get("payment_id") in self.down_for:
            return 503, {"error": "this payer's bank is down"}
        key = headers.get("idempotency-key", "")
        reference = self.references.setdefault(key, f"GW{len(self.references) + 1:06d}")
        self._remember(path, json.loads(body or b"{}"), reference)
        return 200, {"gateway_ref": reference}

    def calls(self, path: str) -> dict[str, int]:
        """How many times each idempotency key was sent to ``path`` and accepted."""
        counts: dict[str, int] = {}
        for request in self.requests:
            if request["path"] == path:
                key = request["headers"].get("idempotency-key", "")
                counts[key] = counts.get(key, 0) + 1
        return counts


@contextmanager
def running(gateway: FakeGateway) -> Iterator[FakeGateway]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server calls it so)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(*gateway.answer(self.path, headers, body))

        def do_GET(self) -> None:  # noqa: N802 (http.server calls it so)
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(*gateway.look_up(self.path, headers))

        def _send(self, status: int, answer: dict[str, Any]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    with local_server(Handler) as url:
        gateway.url = url
        yield gateway


def paying_through(settings: Settings, gateway: FakeGateway, **more: Any) -> Settings:
    """The settings, with the real HTTP gateway adapter pointed at this fake gateway."""
    url, key = gateway.url, SecretStr(gateway.api_key)
    update = {"payment_gateway": "http", "payment_gateway_url": url, "payment_gateway_key": key}
    return settings.model_copy(update={**update, **more})
