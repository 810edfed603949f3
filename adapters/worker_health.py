"""The workers' health board: one row per worker and component in the work database, written
by each worker's runtime every second or so, read by ``tiffin work health`` and ``/metrics``;
and one row per worker and outside destination for the circuit breakers it keeps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapters.sql import SqlDatabase, create_tables
from application.circuit_breaker import BreakerReport, BreakerState
from application.component_health import ComponentHealth

STALE_SECONDS = 10.0  # a worker silent for longer is gone (or stuck)
CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS tiffin_worker_health ("
    " worker TEXT NOT NULL, component TEXT NOT NULL, state TEXT NOT NULL,"
    " failures INTEGER NOT NULL, failing_seconds DOUBLE PRECISION NOT NULL,"
    " last_error TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (worker, component))"
)
REPORT = (
    "INSERT INTO tiffin_worker_health"
    " (worker, component, state, failures, failing_seconds, last_error, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker, component) DO UPDATE SET"
    " state = excluded.state, failures = excluded.failures,"
    " failing_seconds = excluded.failing_seconds, last_error = excluded.last_error,"
    " updated_at = excluded.updated_at"
)
STATES = ("running", "failing", "standby", "resting")
CREATE_BREAKERS = (
    "CREATE TABLE IF NOT EXISTS tiffin_circuit_breakers ("
    " worker TEXT NOT NULL, destination TEXT NOT NULL, state TEXT NOT NULL,"
    " failures INTEGER NOT NULL, open_seconds DOUBLE PRECISION NOT NULL,"
    " updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (worker, destination))"
)
REPORT_BREAKER = (
    "INSERT INTO tiffin_circuit_breakers"
    " (worker, destination, state, failures, open_seconds, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (worker, destination) DO UPDATE SET state = excluded.state,"
    " failures = excluded.failures, open_seconds = excluded.open_seconds,"
    " updated_at = excluded.updated_at"
)


@dataclass(frozen=True)
class HealthRow:
    worker: str
    component: str
    state: str
    failures: int
    failing_seconds: float
    last_error: str
    updated_at: float  # wall clock


@dataclass(frozen=True)
class BreakerRow:
    worker: str
    destination: str
    state: str
    failures: int
    open_seconds: float


class SqlHealthBoard:
    """``application.component_health.HealthBoard`` in SQL (SQLite or PostgreSQL)."""

    def __init__(self, database: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock
        create_tables(database, [CREATE_TABLE, CREATE_BREAKERS], "tiffin-health-ddl")

    def report(
        self,
        worker: str,
        health: list[ComponentHealth],
        now: float,
        breakers: Sequence[BreakerReport] = (),
    ) -> None:
        wall = self.clock()
        with self.database.transaction() as run:
            # Workers that stopped reporting are gone: their rows go with the next report.
            for table in ("tiffin_worker_health", "tiffin_circuit_breakers"):
                run(f"DELETE FROM {table} WHERE updated_at < ?", (wall - STALE_SECONDS,))  # noqa: S608
            for item in health:
                failing = item.failing_for(now)
                row = (worker, item.component, item.state(now), item.failures, failing)
                run(REPORT, (*row, item.last_error, wall))
            for breaker in breakers:
                named = (worker, breaker.destination, breaker.state.value, breaker.failures)
                run(REPORT_BREAKER, (*named, breaker.open_for, wall))

    def breakers(self) -> list[BreakerRow]:
        """The circuit breakers recent workers keep, one row per worker and destination."""
        cutoff = self.clock() - STALE_SECONDS
        with self.database.transaction() as run:
            found = run(
                "SELECT worker, destination, state, failures, open_seconds"
                " FROM tiffin_circuit_breakers WHERE updated_at >= ?"
                " ORDER BY destination, worker",
                (cutoff,),
            ).fetchall()
        return [BreakerRow(*row) for row in found]

    def rows(self) -> list[HealthRow]:
        """Every recent worker's components (workers silent for ``STALE_SECONDS`` are gone)."""
        cutoff = self.clock() - STALE_SECONDS
        with self.database.transaction() as run:
            found = run(
                "SELECT worker, component, state, failures, failing_seconds, last_error,"
                " updated_at FROM tiffin_worker_health WHERE updated_at >= ?"
                " ORDER BY component, worker",
                (cutoff,),
            ).fetchall()
        return [HealthRow(*row) for row in found]


class HealthCollector(Collector):
    """The board as Prometheus gauges: per component and worker, its state (1 for the one it
    is in) and its consecutive failures."""

    def __init__(self, board: SqlHealthBoard) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily]:
        components = [(r.component, r.worker, r.state, r.failures) for r in self.board.rows()]
        yield from _state_and_failures(
            "tiffin_component",
            "component",
            STATES,
            "1 for the state each worker's component is in (running, failing, standby, resting)",
            "consecutive failed passes of the component in the worker that runs it",
            components,
        )
        breakers = [(r.destination, r.worker, r.state, r.failures) for r in self.board.breakers()]
        yield from _state_and_failures(
            "tiffin_circuit_breaker",
            "destination",
            [state.value for state in BreakerState],
            "1 for the state of each worker's circuit breaker per outside destination",
            "consecutive failed calls to the destination, as the worker's breaker counts them",
            breakers,
        )


def _state_and_failures(
    metric: str,
    subject: str,
    states: Sequence[str],
    state_help: str,
    failures_help: str,
    rows: Sequence[tuple[str, str, str, int]],
) -> Iterator[GaugeMetricFamily]:
    """``<metric>_state`` (1 for the state each subject is in, per worker) and
    ``<metric>_failures``, from rows of (subject, worker, state, failures)."""
    state = GaugeMetricFamily(f"{metric}_state", state_help, labels=[subject, "worker", "state"])
    failures = GaugeMetricFamily(f"{metric}_failures", failures_help, labels=[subject, "worker"])
    for name, worker, current, count in rows:
        for candidate in states:
            state.add_metric([name, worker, candidate], float(current == candidate))
        failures.add_metric([name, worker], float(count))
    yield state
    yield failures


def register_health(registry: CollectorRegistry, board: SqlHealthBoard) -> None:
    registry.register(HealthCollector(board))
