"""(b) eventsourcing's default PostgreSQL save path and (c) Tiffin's group-commit path."""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate, event

from adapters.event_store import COMPRESSOR_TOPIC, GROUP_COMMIT_FACTORY_TOPIC, postgres_env
from application.base import TiffinApplication
from bench.harness import Measurement, run_writers, summarise, time_writers

LIBRARY_TOPIC = "eventsourcing.postgres"
TIFFIN_TOPIC = GROUP_COMMIT_FACTORY_TOPIC
PROCESS_START_SECONDS = 3.0  # time for the spawned processes to import and connect


class BenchOrder(Aggregate):
    """One event of about 300 bytes per save, like an order placement."""

    @event("Placed")
    def __init__(self, note: str) -> None:
        self.note = note


class BenchStore(TiffinApplication):
    name = "BenchStore"


def bench_app(database_url: str, module: str, writers: int) -> BenchStore:
    return BenchStore(
        {
            **postgres_env(database_url),
            "PERSISTENCE_MODULE": module,
            "COMPRESSOR_TOPIC": COMPRESSOR_TOPIC,
            "CREATE_TABLE": "y",
            "POSTGRES_POOL_SIZE": str(writers + 2),
            "POSTGRES_MAX_OVERFLOW": "4",
        }
    )


@dataclass(frozen=True)
class WriteResult:
    measurement: Measurement
    skipped: int | None  # events the follower passed over (None: no follower ran)


def _save_new_order(app: BenchStore) -> Callable[[], object]:
    note = os.urandom(110).hex()  # ~300 bytes of event state, hardly compressible
    return lambda: app.save(BenchOrder(note))


FOLLOWER_POLL_SECONDS = 0.002
FOLLOWER_TIMEOUT_SECONDS = 120.0  # to read what the writers left: seconds at most


def _follow(database_url: str, module: str, head: int, stop: Any, seen: Any) -> None:
    """In a process of its own, as a projector reads in a worker: tails the log from ``head``
    until ``stop`` is set and the log is read to its end, then sends the ids it saw."""
    followed: list[int] = []
    with bench_app(database_url, module, 1) as app:
        last = head
        while True:
            finished = stop.is_set()
            page = app.recorder.select_notifications(start=last + 1, limit=1000)
            followed += [n.id for n in page]
            if page:
                last = page[-1].id
            elif finished:
                break
            else:
                stop.wait(FOLLOWER_POLL_SECONDS)
    seen.put(followed)


@contextmanager
def _follower(database_url: str, module: str, head: int) -> Iterator[Callable[[], set[int]]]:
    """Tails the notification log like a projector while the writers run, from ``head`` (read
    before any writer starts), in another process, as the worker's projectors do: in the
    writers' process it would take their interpreter's lock hundreds of times a second."""
    context = multiprocessing.get_context("spawn")
    stop, seen = context.Event(), context.Queue()
    follower = context.Process(target=_follow, args=(database_url, module, head, stop, seen))
    follower.start()

    def result() -> set[int]:
        stop.set()
        try:  # before the join: the queue's feeder must finish first
            followed = set(seen.get(timeout=FOLLOWER_TIMEOUT_SECONDS))
        except queue.Empty:
            code = follower.exitcode
            raise RuntimeError(f"the follower (exit code {code}) sent nothing") from None
        follower.join()
        return followed

    try:
        yield result
    finally:
        if follower.is_alive():
            follower.terminate()
            follower.join()


def measure_saves(
    database_url: str, module: str, writers: int, seconds: float, follow: bool
) -> WriteResult:
    """Saves new one-event aggregates from ``writers`` threads through the given path."""
    with bench_app(database_url, module, writers) as app:
        head = app.recorder.max_notification_id() or 0
        if not follow:
            return WriteResult(run_writers(writers, seconds, lambda _: _save_new_order(app)), None)
        with _follower(database_url, module, head) as seen:
            measurement = run_writers(writers, seconds, lambda _: _save_new_order(app))
            followed = seen()
        committed = {
            n.id for n in app.recorder.select_notifications(start=head + 1, limit=10_000_000)
        }
        return WriteResult(measurement, len(committed - followed))


def _process_writers(
    database_url: str, module: str, threads: int, seconds: float, start_at: float
) -> tuple[float, list[float]]:
    with bench_app(database_url, module, threads) as app:
        return time_writers(threads, seconds, lambda _: _save_new_order(app), start_at=start_at)


def measure_saves_in_processes(
    database_url: str, module: str, processes: int, threads: int, seconds: float
) -> Measurement:
    """Writers spread over several processes, as API replicas would be, starting together."""
    start_at = time.time() + PROCESS_START_SECONDS
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.starmap(
            _process_writers,
            [(database_url, module, threads, seconds, start_at)] * processes,
        )
    elapsed = max(e for e, _ in results)
    return summarise(processes * threads, elapsed, [t for _, ts in results for t in ts])
