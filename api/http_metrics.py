"""The API's Prometheus metrics: requests by route, method and status, and their latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counts and latency histograms, per route template (never per raw path, so
    ids do not make a series each; an unmatched path is ``unmatched``) and per method (one a
    client made up is ``other``): whatever clients send, the number of series is bounded."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tiffin_http_requests_total",
            "HTTP requests answered, by route, method and status",
            ("route", "method", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "tiffin_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route and method",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
