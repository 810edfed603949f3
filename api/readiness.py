"""Readiness: what ``/readyz`` checks, and the same checks as Prometheus gauges at each scrape
(``tiffin_ready`` and ``tiffin_readiness_check{check}``), for alerts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.dependencies import Probe, ProbeFailed

ADVISORY = frozenset({"kafka", "upi_gateway"})  # reported, never failing readiness


def run_checks(probes: Mapping[str, Probe]) -> dict[str, str]:
    """Each probe's report: ``ok``, what it said, or ``failed: <error>`` (nothing is raised)."""
    results: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            results[name] = probe() or "ok"
        except ProbeFailed as failed:
            results[name] = f"failed: {failed}"
        except Exception as error:  # the report names what failed
            results[name] = f"failed: {type(error).__name__}"
    return results


class ReadinessCollector(Collector):
    """The probes that can fail readiness, run at each scrape (each a quick local query)."""

    def __init__(self, probes: Mapping[str, Probe]) -> None:
        self.probes = {name: p for name, p in probes.items() if name not in ADVISORY}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        checks = run_checks(self.probes)
        each = GaugeMetricFamily(
            "tiffin_readiness_check",
            "1 if the check /readyz makes passes (event store, views, Redis, schema), else 0",
            labels=["check"],
        )
        for name, result in checks.items():
            each.add_metric([name], 0.0 if result.startswith("failed") else 1.0)
        ready = all(not result.startswith("failed") for result in checks.values())
        yield GaugeMetricFamily(
            "tiffin_ready", "1 if /readyz would answer 200, else 0", value=float(ready)
        )
        yield each
