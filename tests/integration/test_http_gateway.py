"""The HTTP UPI gateway adapter against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from adapters.http_gateway import HttpUpiGateway
from application.gateway import CollectRequest, GatewayRejected, GatewayUnavailable, RefundRequest
from domain.values import Money
from tests.fakes.upi_gateway import FakeGateway, running


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with running(FakeGateway()) as fake:
        yield fake


def collect_request() -> CollectRequest:
    return CollectRequest(uuid4(), "asha@okbank", Money.parse("315.50"), "Tiffin order 1")


def test_a_collect_carries_the_payment_as_idempotency_key_and_returns_the_reference(
    gateway: FakeGateway,
) -> None:
    request = collect_request()
    adapter = HttpUpiGateway(gateway.url, gateway.api_key)

    first = adapter.collect(request)
    again = adapter.collect(request)

    assert first == again
    assert [r["headers"]["idempotency-key"] for r in gateway.requests] == [
        str(request.payment_id)
    ] * 2
    assert gateway.requests[0]["path"] == "/v1/collects"
    assert gateway.requests[0]["body"]["amount"] == {"amount": "315.50", "currency": "INR"}
    assert gateway.requests[0]["body"]["vpa"] == "asha@okbank"


def test_a_refund_has_its_own_idempotency_key(gateway: FakeGateway) -> None:
    adapter = HttpUpiGateway(gateway.url, gateway.api_key)
    request = collect_request()
    collected = adapter.collect(request)

    refunded = adapter.refund(
        RefundRequest(request.payment_id, collected, request.amount, "order rejected")
    )

    assert refunded != collected
    assert gateway.requests[-1]["path"] == "/v1/refunds"
    assert gateway.requests[-1]["headers"]["idempotency-key"] == f"{request.payment_id}:refund"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_failing_gateway_is_retryable(gateway: FakeGateway, status: int) -> None:
    gateway.failures.append(status)
    adapter = HttpUpiGateway(gateway.url, gateway.api_key)
    request = collect_request()

    with pytest.raises(GatewayUnavailable):
        adapter.collect(request)
    assert adapter.collect(request)  # the retry goes through


def test_a_request_the_gateway_refuses_is_a_rejection(gateway: FakeGateway) -> None:
    with pytest.raises(GatewayRejected, match="401"):
        HttpUpiGateway(gateway.url, "wrong-key").collect(collect_request())


def test_an_unreachable_gateway_is_retryable() -> None:
    with running(FakeGateway()) as stopped:
        url = stopped.url
    with pytest.raises(GatewayUnavailable, match="unreachable"):
        HttpUpiGateway(url, "key", timeout_seconds=2).collect(collect_request())
