"""One closed-loop measurement: every client sends its next request as soon as it has the last
response, for a fixed time, with each request's latency and the CPU each process used."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.api_clients import Client, Headers
from bench.api_server import ApiStack
from bench.harness import summarise

WARMUP = 3  # requests per client before the clock starts
Request = tuple[str, str, Headers, bytes]


@dataclass
class Load:
    timings: list[float]
    elapsed: float
    errors: dict[str, int]
    cpu: dict[str, float]  # CPU seconds used during the measurement, by process
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return len(self.timings) / self.elapsed if self.elapsed else 0.0

    @property
    def p99_ms(self) -> float:
        return summarise(1, self.elapsed, self.timings).p99_ms


async def drive(
    stack: ApiStack,
    clients: list[Client],
    request_of: Callable[[int], Request],
    expected: int,
    seconds: float,
) -> Load:
    """Every client sends its next request as soon as it has the last one's response."""
    timings: list[float] = []
    errors: Counter[str] = Counter()
    clock = time.perf_counter
    deadline = 0.0

    async def one(n: int, warmup: bool) -> None:
        client = clients[n]
        while True:
            began = clock()
            if not warmup and began >= deadline:
                return
            try:
                status, _ = await client.request(*request_of(n))
            except Exception as error:  # counted and reported; the run goes on
                errors[type(error).__name__] += 1
                if warmup:
                    return
                continue
            if warmup:
                return
            if status == expected:
                timings.append(clock() - began)
            else:
                errors[str(status)] += 1

    for _ in range(WARMUP):
        await asyncio.gather(*(one(n, True) for n in range(len(clients))))
    errors.clear()
    before = stack.cpu_seconds()
    started = clock()
    deadline = started + seconds
    await asyncio.gather(*(one(n, False) for n in range(len(clients))))
    elapsed = clock() - started
    after = stack.cpu_seconds()
    cpu = {name: after[name] - before[name] for name in after}
    return Load(timings, elapsed, dict(errors), cpu)
