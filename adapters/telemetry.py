"""OpenTelemetry traces, off unless TIFFIN_OTEL_ENDPOINT names an OTLP/HTTP receiver.

One trace per command, across processes, with nothing added to the stored events: the trace id
is the request's correlation id (its X-Request-ID, which every event it causes records; when it
is not 32 hex digits, a hash of it). The API's server span joins that trace (``Correlated``
gives a request without a ``traceparent`` one), psycopg and Redis calls are child spans, and
the workers open a span per event they react to or apply to a view, in the trace of the
event's correlation id, so the saga's reactions and the views follow the request that began it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import uuid4

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

HEX32 = re.compile(r"^[0-9a-f]{32}$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # the middleware's rule for X-Request-ID
UNTRACED_URLS = "healthz,readyz,metrics"
REQUEST_PREFIX = "request:"  # api.causation's correlation ids


def trace_id_of(correlation_id: str) -> int:
    """The trace a correlation id stands for, the same in every process: a request's id, or
    the ``request:<id>`` its events and the saga's reactions record."""
    correlation_id = correlation_id.removeprefix(REQUEST_PREFIX)
    text = correlation_id.lower()
    if HEX32.match(text) and int(text, 16):
        return int(text, 16)
    return int(hashlib.sha256(correlation_id.encode()).hexdigest()[:32], 16) or 1


class Tracing:
    """The process's tracer provider, exporting in batches; ``close`` flushes what is left."""

    def __init__(self, endpoint: str, service: str, sample_ratio: float) -> None:
        resource = Resource.create({"service.name": service, "service.instance.id": uuid4().hex})
        self.ratio = TraceIdRatioBased(sample_ratio)  # decided by the trace id: alike everywhere
        self.provider = TracerProvider(resource=resource, sampler=ParentBased(self.ratio))
        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        trace.set_tracer_provider(self.provider)
        PsycopgInstrumentor().instrument(tracer_provider=self.provider)
        RedisInstrumentor().instrument(tracer_provider=self.provider)
        self.tracer = self.provider.get_tracer("tiffin")

    def instrument(self, app: Any) -> None:
        """The API's server spans (and the correlation ids they join)."""
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=UNTRACED_URLS
        )
        traced = app.build_middleware_stack  # the instrumentation's: its middleware outermost

        def correlated_first() -> Any:  # before the server span begins, the trace is chosen
            return Correlated(traced(), self.sampled)

        app.build_middleware_stack = correlated_first

    def sampled(self, trace_id: int) -> bool:
        """TIFFIN_OTEL_SAMPLE_RATIO's choice for this trace, the same in every process."""
        return bool(trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self.ratio.bound)

    def span_for(self, component: str, event: Any) -> AbstractContextManager[None]:
        """A span for a worker's component taking in one event, in its command's trace."""
        return self._span(component, event)

    @contextmanager
    def _span(self, component: str, event: Any) -> Iterator[None]:
        cause = getattr(event, "cause", None)
        correlation = getattr(cause, "correlation_id", None)
        context = None
        if correlation:
            trace_id = trace_id_of(correlation)
            sampled = self.sampled(trace_id)
            parent = SpanContext(
                trace_id=trace_id,
                span_id=secrets.randbits(64) or 1,
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
            )
            context = trace.set_span_in_context(NonRecordingSpan(parent))
        attributes = {
            "tiffin.component": component,
            "tiffin.event": type(event).__qualname__,
            "tiffin.aggregate_id": str(getattr(event, "originator_id", "")),
            "tiffin.correlation_id": correlation or "",
        }
        name = f"{component} {type(event).__qualname__}"
        with self.tracer.start_as_current_span(name, context=context, attributes=attributes):
            yield

    def close(self) -> None:
        self.provider.shutdown()


class Correlated:
    """ASGI: a request without a ``traceparent`` joins the trace of its correlation id, and gets
    one (an X-Request-ID) if it came without: the middleware and the events record the same."""

    def __init__(self, app: Any, sampled: Callable[[int], bool]) -> None:
        self.app = app
        self.sampled = sampled

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = list(scope["headers"])
            names = {name for name, _ in headers}
            if b"traceparent" not in names:
                given = dict(headers).get(b"x-request-id", b"").decode("latin-1")
                request_id = given if REQUEST_ID.match(given) else uuid4().hex
                if not given or request_id != given:
                    headers = [h for h in headers if h[0] != b"x-request-id"]
                    headers.append((b"x-request-id", request_id.encode()))
                trace_id = trace_id_of(request_id)
                flags = "01" if self.sampled(trace_id) else "00"
                span_id = secrets.randbits(64) or 1
                parent = f"00-{trace_id:032x}-{span_id:016x}-{flags}"
                headers.append((b"traceparent", parent.encode()))
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
