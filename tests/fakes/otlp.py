"""A stand-in OTLP/HTTP trace receiver (a Jaeger or an OpenTelemetry Collector): a real HTTP
server on 127.0.0.1 that the real exporter posts protobuf ``ExportTraceServiceRequest``s to,
keeping each span's service, trace id, name and attributes."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.fakes.local_http import QuietHandler, local_server


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str  # 32 hex digits
    name: str
    attributes: dict[str, str]


@dataclass
class FakeCollector:
    spans: list[ReceivedSpan] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    received = ReceivedSpan(service, span.trace_id.hex(), span.name, attributes)
                    with self._lock:
                        self.spans.append(received)

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]


@contextmanager
def collecting() -> Iterator[FakeCollector]:
    collector = FakeCollector()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server calls it so)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                collector.receive(body)
                self.send_response(200)
            else:
                self.send_response(404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with local_server(Handler) as url:
        collector.url = url
        yield collector
