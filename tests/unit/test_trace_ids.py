"""One trace per command: its trace id is its correlation id, in the API and in the workers."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.telemetry import Correlated, trace_id_of


def test_a_request_id_of_32_hex_digits_is_the_trace_id_everywhere() -> None:
    request_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of(request_id) == int(request_id, 16)
    assert trace_id_of(f"request:{request_id}") == int(request_id, 16), "as events record it"


def test_another_correlation_id_has_a_trace_of_its_own_the_same_each_time() -> None:
    assert trace_id_of("checkout-17") == trace_id_of("request:checkout-17")
    assert trace_id_of("checkout-17") != trace_id_of("checkout-18")
    assert 0 < trace_id_of("checkout-17") < 2**128


def through(headers: list[tuple[bytes, bytes]], sampled: bool = True) -> dict[bytes, bytes]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {"type": "http", "headers": headers}
    asyncio.run(Correlated(app, lambda _: sampled)(scope, None, None))
    return dict(seen["headers"])


def test_a_request_joins_the_trace_of_its_request_id() -> None:
    headers = through([(b"x-request-id", b"checkout-17")])
    version, trace, span, flags = headers[b"traceparent"].decode().split("-")
    assert (version, int(trace, 16), flags) == ("00", trace_id_of("checkout-17"), "01")
    assert len(span) == 16


def test_a_request_without_an_id_gets_one_and_the_trace_it_names() -> None:
    headers = through([], sampled=False)
    request_id = headers[b"x-request-id"].decode()
    _, trace, _, flags = headers[b"traceparent"].decode().split("-")
    assert int(trace, 16) == trace_id_of(request_id)
    assert flags == "00", "not sampled: the same choice as the workers make for it"


def test_a_request_that_brings_its_own_trace_keeps_it() -> None:
    theirs = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert through([(b"traceparent", theirs)])[b"traceparent"] == theirs
