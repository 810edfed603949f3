"""OpenTelemetry traces across processes: an order placed through `tiffin serve` is one trace,
from the HTTP request (with its PostgreSQL calls) through the saga's reactions and the views in
`tiffin worker`, exported over OTLP/HTTP to a collector (a real local HTTP server)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import uuid4

from tests.api_checks import Reply
from tests.api_flows import Lifecycle
from tests.api_process import api_server, server_environ
from tests.api_transports import Transport
from tests.fakes.otlp import FakeCollector, ReceivedSpan, collecting
from tests.polling import Seen, poll_until
from tests.redis_server import REDIS_URL, scratch_prefix


def test_an_order_is_one_trace_from_the_request_through_the_saga_and_the_views(
    postgres_url: str, tmp_path: Path
) -> None:
    request_id = uuid4().hex
    with collecting() as collector, scratch_prefix() as prefix:
        environ = server_environ(
            tmp_path / "var",
            TIFFIN_DATABASE_URL=postgres_url,
            TIFFIN_REDIS_URL=REDIS_URL,
            TIFFIN_REDIS_PREFIX=prefix,
            TIFFIN_OTEL_ENDPOINT=collector.url,
        )
        with api_server(environ, workers=1) as server:

            async def place() -> str:
                async with Transport("HTTP/1.1", server) as transport:

                    async def send(
                        method: str,
                        path: str,
                        token: str | None,
                        body: Any = None,
                        headers: Mapping[str, str] | None = None,
                    ) -> Reply:
                        sent = dict(headers or {})
                        if (method, path) == ("POST", "/v1/orders"):
                            sent["X-Request-ID"] = request_id
                        return await transport.send(method, path, token, body, sent)

                    flow = Lifecycle(send, server.token, server.sign, server.settings.delivery_fee)
                    await flow.open_restaurant()
                    await flow.place_order()
                    return flow.order_id

            asyncio.run(place())
            spans = poll_until(
                lambda seen: whole_trace(collector, request_id, seen),
                within=30.0,
                what="the order's trace: the request, the saga's reaction, a view",
            )

    names = {(span.service, span.name) for span in spans}
    assert ("tiffin-api", "POST /v1/orders") in names
    assert any(s == "tiffin-api" and n.startswith(("INSERT", "SELECT")) for s, n in names), (
        "the request's PostgreSQL calls are in its trace"
    )
    assert ("tiffin-worker", "payments Order.Placed") in names, "the saga reacted, in the trace"
    assert ("tiffin-worker", "order_summary Order.Placed") in names, "a view applied it"
    assert ("tiffin-worker", "order_summary Payment.Requested") in names, "and the saga's event"


def whole_trace(collector: FakeCollector, request_id: str, seen: Seen) -> list[ReceivedSpan] | None:
    spans = collector.in_trace(request_id)
    names = {span.name for span in spans}
    seen.last = sorted(names)
    wanted = {"POST /v1/orders", "payments Order.Placed", "order_summary Order.Placed"}
    return spans if wanted <= names and "order_summary Payment.Requested" in names else None
