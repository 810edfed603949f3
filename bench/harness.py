"""Runs an operation from N threads for a fixed time and summarises throughput and latency."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    writers: int
    seconds: float
    operations: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds


def run_writers(
    writers: int,
    seconds: float,
    make_operation: Callable[[int], Callable[[], object]],
    warmup: int = 3,
) -> Measurement:
    """Each writer thread repeats its operation until the time is up, timing every call."""
    elapsed, timings = time_writers(writers, seconds, make_operation, warmup)
    return summarise(writers, elapsed, timings)


def summarise(writers: int, elapsed: float, timings: list[float]) -> Measurement:
    timings = sorted(timings)
    return Measurement(
        writers=writers,
        seconds=elapsed,
        operations=len(timings),
        p50_ms=statistics.median(timings) * 1000 if timings else 0.0,
        p99_ms=timings[int(len(timings) * 0.99) - 1] * 1000 if timings else 0.0,
    )


def time_writers(
    writers: int,
    seconds: float,
    make_operation: Callable[[int], Callable[[], object]],
    warmup: int = 3,
    start_at: float | None = None,
) -> tuple[float, list[float]]:
    """The elapsed time and every call's latency; ``start_at`` (a ``time.time()``) lets several
    processes start together."""
    operations = [make_operation(n) for n in range(writers)]
    for operation in operations:
        for _ in range(warmup):
            operation()
    latencies: list[list[float]] = [[] for _ in range(writers)]
    start = threading.Barrier(writers + 1)
    deadline = [0.0]

    def writer(n: int) -> None:
        operation, timings = operations[n], latencies[n]
        start.wait()
        clock = time.perf_counter
        while (began := clock()) < deadline[0]:
            operation()
            timings.append(clock() - began)

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return elapsed, [t for per_writer in latencies for t in per_writer]
