"""The projections' Prometheus metrics, for the API's ``/metrics`` (and ``tiffin projections
metrics``): events applied and parked as counters, and lag per log collected when scraped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

EVENTS_APPLIED = Counter(
    "tiffin_projection_events_applied",
    "Events applied to a projection's view by this process.",
    ["projection"],
)
EVENTS_PARKED = Counter(
    "tiffin_projection_events_parked",
    "Events this process parked as poison for a projection.",
    ["projection"],
)


class ProjectionLag(Collector):
    """Lag of each projection behind each log, read when the metrics are scraped."""

    def __init__(self, projectors: Callable[[], Iterable[Any]]) -> None:
        self._projectors = projectors  # the projectors (``Projector``) to report on

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["projection", "log"]
        events = GaugeMetricFamily(
            "tiffin_projection_lag_events", "Events not yet applied to the view.", labels=labels
        )
        seconds = GaugeMetricFamily(
            "tiffin_projection_lag_seconds",
            "Age of the oldest event not yet applied to the view.",
            labels=labels,
        )
        position = GaugeMetricFamily(
            "tiffin_projection_position", "Last notification id the view includes.", labels=labels
        )
        parked = GaugeMetricFamily(
            "tiffin_projection_parked", "Events parked as poison.", labels=["projection"]
        )
        now = time.time()
        for projector in self._projectors():
            for lag in projector.lag(now):
                events.add_metric([projector.name, lag.leader], lag.events)
                seconds.add_metric([projector.name, lag.leader], lag.seconds)
                position.add_metric([projector.name, lag.leader], lag.position)
            parked.add_metric([projector.name], len(projector.parked()))
        yield from (events, seconds, position, parked)


def register_lag(registry: CollectorRegistry, projectors: Callable[[], Iterable[Any]]) -> None:
    registry.register(ProjectionLag(projectors))
