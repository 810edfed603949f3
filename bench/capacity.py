"""``tiffin bench capacity``: the capacity plan (``docs/capacity.md``), computed from what
``tiffin bench api`` measures on this machine and from one order's whole life counted event by
event. ``--from FILE`` takes a ``tiffin bench api --json FILE``; without it the API benchmark
runs first (server mode: a scratch database, Redis, ``tiffin serve`` and ``tiffin worker``).

The model, stated in the document it writes: an order placed through the API (its payment
requested by the saga) is measured (CPU of each process per order, caught up; the events, their
stored bytes, WAL, Redis memory); the rest of its life is costed per event at the same
measured rates, its commands at the measured cost of an order's POST, and the reads apps make
at the measured cost of the hot status read.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from application.integration_events import contracts_by_event
from application.settings import load_settings
from bench.api_load import HEALTHZ, STATUS

DAILY = (10_000, 100_000, 1_000_000, 10_000_000)
PEAK_HOUR_SHARE = 0.15  # of a day's orders in its busiest hour (dinner)
PEAK_BURST = 2.0  # the busiest minute against that hour's mean
TARGET_UTILISATION = 0.6  # of a core, before another replica is added
LIFETIME_MINUTES = 45  # placed to delivered: how long an order stays open
APP_COMMANDS = 6  # place, accept, ready, pick up, deliver, rate
READS_PER_ORDER = 20  # status reads and live-channel resumes over an order's life
PARTITION_MESSAGES_PER_S = 1_000  # what one Kafka partition takes comfortably
WRITE_PATH_SAVES_PER_S = 4_700  # measured group-commit ceiling (tiffin bench, 16 writers)
WORKER_GROUPS = 4  # saga, views, outbox, relay (deploy/)
SIZED_FOR = 100_000  # orders a day deploy/k8s/base's requests are for


@dataclass(frozen=True)
class Measured:
    server_ms: float  # API CPU per order placed, caught up
    worker_ms: float  # every worker component's CPU per order placed
    rest_ms: float  # PostgreSQL, Redis and the rest of the machine
    read_ms: float  # API CPU per hot status read
    events: float  # per order placed
    bytes_per_event: float
    wal_per_order: float
    commits_per_order: float
    redis_per_order: float
    orders_per_s: float
    healthz_per_s: float


def measured_of(result: dict[str, Any]) -> Measured:
    """The figures of a ``tiffin bench api --json`` result (HTTP/1.1, full concurrency)."""
    rows = [r for r in result["rows"] if r["extra"]["protocol"] == "HTTP/1.1"]
    orders = next(r for r in rows if r["extra"].get("per_order"))
    per = orders["extra"]["per_order"]
    reads = next(r for r in rows if r["label"] == STATUS and r["writers"] == orders["writers"])
    healthz = next(r for r in rows if r["label"] == HEALTHZ)
    cpu = per["cpu_ms_per_order"]
    return Measured(
        server_ms=cpu["server"],
        worker_ms=cpu.get("worker", 0.0),
        rest_ms=cpu["rest"],
        read_ms=reads["extra"]["cpu_ms_per_request"]["server"],
        events=per["events_per_order"],
        bytes_per_event=per["bytes_per_event"],
        wal_per_order=per["wal_bytes_per_order"],
        commits_per_order=per.get("commits_per_order", 0.0),
        redis_per_order=per["redis_bytes_per_order"],
        orders_per_s=orders["per_second"],
        healthz_per_s=healthz["per_second"],
    )


def lifecycle_events() -> Counter[str]:
    """The events of one order from placed to rated, by type, counted on a platform of its
    own (embedded, in a temporary directory)."""
    from bench.lag import COMMANDS_PER_ORDER, Commands
    from bench.seed import couriers_on_shift, open_restaurants
    from wiring.bootstrap import bootstrap

    with tempfile.TemporaryDirectory(prefix="tiffin-capacity-") as data_dir:
        settings = load_settings({"TIFFIN_DATA_DIR": data_dir})
        with bootstrap(settings) as tiffin:
            restaurants = open_restaurants(tiffin, 1, random.Random(3))  # noqa: S311
            couriers = [(str(c.id), c.owner_id) for c in couriers_on_shift(tiffin, 1)]
            heads = {app.name: app.recorder.max_notification_id() or 0 for app in tiffin.apps()}
            writer = Commands(tiffin, restaurants, couriers)
            order = writer.new_order()
            while order.step < COMMANDS_PER_ORDER:
                _, command = writer.next_command(order)
                command()
                order.step += 1
            counted: Counter[str] = Counter()
            for app in tiffin.apps():
                for stored in app.recorder.select_notifications(
                    start=heads[app.name] + 1, limit=10_000
                ):
                    counted[stored.topic.rsplit(":", 1)[-1]] += 1
    return counted


def plan(measured: Measured, lifecycle: Counter[str]) -> str:
    """The capacity plan in Markdown (``capacity_plan.md`` filled in)."""
    events = sum(lifecycle.values())
    published = contracts_by_event()
    messages = sum(n * len(published.get(kind, ())) for kind, n in lifecycle.items())
    scale = scale_of(measured, events)
    per_order = {
        "api": measured.server_ms * APP_COMMANDS + measured.read_ms * READS_PER_ORDER,
        "workers": measured.worker_ms * scale,
        "store": measured.rest_ms * scale,
    }
    wal, stored = measured.wal_per_order * scale, measured.bytes_per_event * events
    single_worker = 1000 / max(per_order["workers"], 1e-9)  # orders/s one process sustains
    write_path = WRITE_PATH_SAVES_PER_S / max(events, 1)
    rows = [_row(daily, per_order, events, wal, stored, messages, measured) for daily in DAILY]
    template = (Path(__file__).parent / "capacity_plan.md").read_text()
    return template.format(
        orders_per_s=measured.orders_per_s,
        orders_ratio=measured.orders_per_s / max(measured.healthz_per_s, 1e-9),
        server_ms=measured.server_ms,
        worker_ms=measured.worker_ms,
        rest_ms=measured.rest_ms,
        read_ms=measured.read_ms,
        measured_events=measured.events,
        events=events,
        bytes_per_event=measured.bytes_per_event,
        wal_kib=measured.wal_per_order / 1024,
        commits=measured.commits_per_order,
        redis_kib=measured.redis_per_order / 1024,
        messages=messages,
        lifecycle=", ".join(f"{kind} {n}" for kind, n in sorted(lifecycle.items())),
        peak_share=PEAK_HOUR_SHARE,
        burst=PEAK_BURST,
        commands=APP_COMMANDS,
        reads=READS_PER_ORDER,
        scale=scale,
        utilisation=TARGET_UTILISATION,
        lifetime=LIFETIME_MINUTES,
        partition_rate=PARTITION_MESSAGES_PER_S,
        api_ms=per_order["api"],
        workers_ms=per_order["workers"],
        store_ms=per_order["store"],
        wal_order_kib=wal / 1024,
        stored_kib=stored / 1024,
        rows="\n".join(rows),
        single_worker=single_worker,
        single_worker_daily=daily_at(single_worker),
        groups_daily=daily_at(single_worker * WORKER_GROUPS),
        write_path_saves=WRITE_PATH_SAVES_PER_S,
        write_path_orders=write_path,
        write_path_daily=daily_at(write_path),
        sized_daily=SIZED_FOR,
        **{f"sized_{k}": v for k, v in cores_at(SIZED_FOR, per_order).items()},
    )


def cores_at(daily: int, per_order: dict[str, float]) -> dict[str, float]:
    """The cores each part needs at the busiest minute of a day of ``daily`` orders."""
    peak = daily * PEAK_HOUR_SHARE * PEAK_BURST / 3600
    return {k: peak * ms / 1000 / TARGET_UTILISATION for k, ms in per_order.items()}


def scale_of(measured: Measured, events: int) -> float:
    """An order's whole life against the part the benchmark measured, by events."""
    return events / max(measured.events, 1e-9)


def daily_at(peak_orders_per_s: float) -> float:
    """The orders a day whose busiest minute runs at this rate."""
    return peak_orders_per_s * 3600 / (PEAK_HOUR_SHARE * PEAK_BURST)


def _row(
    daily: int,
    per_order: dict[str, float],
    events: int,
    wal: float,
    stored: float,
    messages: int,
    measured: Measured,
) -> str:
    peak = daily * PEAK_HOUR_SHARE * PEAK_BURST / 3600
    cores = cores_at(daily, per_order)
    open_orders = daily * PEAK_HOUR_SHARE / 60 * LIFETIME_MINUTES
    partitions = max(6, math.ceil(peak * messages / PARTITION_MESSAGES_PER_S))
    cells = [
        f"{daily:,}",
        f"{peak:,.1f}",
        f"{peak * events:,.0f}",
        f"{cores['api']:,.1f}",
        f"{cores['workers']:,.1f}",
        f"{cores['store']:,.1f}",
        f"{peak * wal / 1e6:,.2f}",
        f"{peak * measured.commits_per_order * scale_of(measured, events):,.0f}",
        f"{daily * stored / 1e9:,.2f} GB",
        f"{open_orders * measured.redis_per_order / 2**20:,.0f} MiB",
        f"{peak * messages:,.0f}",
        str(partitions),
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tiffin bench capacity",
        description="Writes the capacity plan from `tiffin bench api`'s figures.",
    )
    parser.add_argument("--from", dest="source", type=Path, help="a `tiffin bench api --json`")
    parser.add_argument("--out", type=Path, default=Path("docs/capacity.md"))
    parser.add_argument("--seconds", type=float, default=8.0, help="per row, if it runs")
    args = parser.parse_args(argv)
    source = args.source
    if source is None:
        from bench.api import main as api_main

        source = Path(tempfile.mkdtemp(prefix="tiffin-capacity-")) / "api.json"
        print("running tiffin bench api first ...", file=sys.stderr, flush=True)
        if api_main(["--seconds", str(args.seconds), "--json", str(source)]) != 0:
            return 1
    measured = measured_of(json.loads(source.read_text()))
    print("counting one order's events, placed to rated ...", file=sys.stderr, flush=True)
    args.out.write_text(plan(measured, lifecycle_events()))
    print(f"wrote {args.out}")
    return 0
