"""The benchmark suite: every row measured side by side in one run, with ratios."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.event_store import (
    LIBRARY_TOPIC,
    TIFFIN_TOPIC,
    measure_saves,
    measure_saves_in_processes,
)
from bench.harness import Measurement
from bench.raw_insert import measure_raw_inserts
from bench.replay import measure_replay

RAW_WRITERS = (1, 4, 16)
LIBRARY_WRITERS = (1, 4, 16)
TIFFIN_WRITERS = (1, 4, 16, 64)
SPREAD = (4, 4)  # processes, writers each: 16 writers the way API replicas would write


@dataclass
class Row:
    key: str
    label: str
    writers: int | None = None
    per_second: float | None = None
    unit: str = "saves/s"
    p50_ms: float | None = None
    p99_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, label: str, m: Measurement, **extra: Any) -> Row:
        return cls(key, label, m.writers, m.per_second, "saves/s", m.p50_ms, m.p99_ms, extra)


GROUP_COMMIT_TARGET_WRITERS = 16
GROUP_COMMIT_TARGET = ">=0.70 vs (a), skipped=0"  # issue 18


def plan(database_url: str, seconds: float) -> list[tuple[str, Callable[[], Row]]]:
    """Each step's description and the function that measures it."""
    steps: list[tuple[str, Callable[[], Row]]] = []

    def raw(w: int) -> Row:
        return Row.of(
            "a", "raw psycopg INSERT commit", measure_raw_inserts(database_url, w, seconds)
        )

    def library(w: int) -> Row:
        result = measure_saves(database_url, LIBRARY_TOPIC, w, seconds, follow=False)
        return Row.of("b", "eventsourcing default save", result.measurement)

    def tiffin(w: int) -> Row:
        result = measure_saves(database_url, TIFFIN_TOPIC, w, seconds, follow=True)
        target = {"target": GROUP_COMMIT_TARGET} if w == GROUP_COMMIT_TARGET_WRITERS else {}
        return Row.of(
            "c", "tiffin group commit", result.measurement, skipped=result.skipped, **target
        )

    steps += [(f"(a) raw INSERT commits, {w} connections", partial(raw, w)) for w in RAW_WRITERS]
    steps += [
        (f"(b) eventsourcing default save, {w} writers", partial(library, w))
        for w in LIBRARY_WRITERS
    ]
    steps += [
        (f"(c) tiffin group-commit save, {w} writers + a follower", partial(tiffin, w))
        for w in TIFFIN_WRITERS
    ]

    def tiffin_processes() -> Row:
        m = measure_saves_in_processes(database_url, TIFFIN_TOPIC, *SPREAD, seconds)
        return Row.of("c", "tiffin group commit", m, processes=SPREAD[0])

    steps.append(
        (
            f"(c) tiffin group-commit save, {SPREAD[0]} processes x {SPREAD[1]} writers",
            tiffin_processes,
        )
    )

    def replay() -> Row:
        result = measure_replay(database_url, min(seconds * 4, 20.0))
        return Row(
            "d",
            "replay: log -> aggregates",
            None,
            result.per_second,
            "events/s",
            extra={"events": result.events, "aggregates": result.aggregates},
        )

    steps.append(("(d) replay through the notification log", replay))
    return steps


def add_ratios(rows: list[Row]) -> None:
    """Tiffin's rows against raw inserts (a) and the library path (b) at the same concurrency."""
    by = {(r.key, r.writers): r.per_second for r in rows}
    for row in rows:
        if row.key != "c" or row.per_second is None:
            continue
        for other in ("a", "b"):
            base = by.get((other, row.writers))
            row.extra[f"vs_{other}"] = round(row.per_second / base, 2) if base else None


def run(database_url: str, seconds: float, say: Callable[[str], None]) -> list[Row]:
    steps = plan(database_url, seconds)
    rows = []
    for number, (description, measure) in enumerate(steps, 1):
        say(f"[{number}/{len(steps)}] {description} ...")
        rows.append(measure())
    rows.append(Row("e", "end to end over HTTP/3", extra={"status": "n/a: no HTTP API yet"}))
    add_ratios(rows)
    return rows


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
