"""``tiffin worker`` and ``tiffin work``: running the saga's workers, and looking after the
work they park."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import start_http_server

from application.settings import ConfigurationError, load_settings
from application.work import PARKED
from cli.heap import settle_heap
from cli.logs import configure_logging
from cli.output import print_table
from wiring.bootstrap import bootstrap
from wiring.migrate import wait_until_migrated
from wiring.telemetry import start_tracing, stop_tracing
from wiring.workers import COMPONENTS, KAFKA_RELAY, projector, switched_off
from wiring.workers import WORK_QUEUES as QUEUES


def run_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    off = switched_off(settings)
    asked_for = [name for name in args.only or () if name in off]
    if asked_for:
        needed = sorted({off[name] for name in asked_for})
        raise ConfigurationError(f"{', '.join(asked_for)}: only with {', '.join(needed)} set")
    only = args.only or [c for c in COMPONENTS if c not in off]
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    start_tracing(settings, "tiffin-worker")
    with bootstrap(settings) as tiffin, closing_tracing():
        say = lambda line: print(f"tiffin worker: {line}", flush=True)  # noqa: E731
        if not settings.create_tables and not wait_until_migrated(tiffin, stopped, say):
            return 0
        runtime = tiffin.runtime(only)
        settle_heap()
        if settings.worker_metrics_port is not None:  # this process's own counters
            start_http_server(settings.worker_metrics_port, addr=settings.host)
        print(
            f"tiffin worker: running {', '.join(only)} (standby where another owns one)", flush=True
        )
        runtime.start()
        stopped.wait()
        print("tiffin worker: stopping", flush=True)
        runtime.stop()
    return 0


@contextmanager
def closing_tracing() -> Iterator[None]:
    try:
        yield
    finally:
        stop_tracing()


def list_work(args: argparse.Namespace) -> int:
    settings = load_settings()
    queues = args.queue or [*QUEUES, *([KAFKA_RELAY] if settings.kafka_bootstrap_servers else [])]
    with bootstrap(settings) as tiffin:
        store = tiffin.work_store()
        status = PARKED if args.parked else None
        items = [
            item for queue in queues if queue != KAFKA_RELAY for item in store.items(queue, status)
        ]
        relay = projector(tiffin, tiffin.views(), KAFKA_RELAY) if KAFKA_RELAY in queues else None
        refused = relay.parked() if relay is not None else []
    rows: list[tuple[object, ...]] = [
        (
            item.queue,
            item.key,
            item.status,
            item.attempts,
            datetime.fromtimestamp(item.due_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            item.last_error or "",
        )
        for item in items
    ]
    rows += [(KAFKA_RELAY, f"{p.leader}:{p.position}", PARKED, "", "", p.error) for p in refused]
    print_table(("queue", "key", "status", "tries", "due (UTC)", "error"), rows, right=["tries"])
    print(f"{len(rows)} item(s)")
    return 0


def show_health(_: argparse.Namespace) -> int:
    """Each running worker's components: running, failing, standby or resting."""
    with bootstrap(load_settings()) as tiffin:
        rows = tiffin.health_board().rows()
        breakers = tiffin.health_board().breakers()
    now = time.time()
    print_table(
        ("component", "worker", "state", "failures", "failing s", "seen s ago", "last error"),
        [
            (
                row.component,
                row.worker,
                row.state,
                row.failures,
                f"{row.failing_seconds:.1f}",
                f"{max(0.0, now - row.updated_at):.1f}",
                row.last_error,
            )
            for row in rows
        ],
        right=["failures", "failing s", "seen s ago"],
    )
    print(f"{len({row.worker for row in rows})} worker(s) reporting")
    if breakers:
        print()
        print_table(
            ("destination", "worker", "circuit breaker", "failures", "open s"),
            [
                (b.destination, b.worker, b.state, b.failures, f"{b.open_seconds:.1f}")
                for b in breakers
            ],
            right=["failures", "open s"],
        )
    return 0


def retry_work(args: argparse.Namespace) -> int:
    if args.queue == KAFKA_RELAY:  # its parked events go again together, in log order
        with bootstrap(load_settings()) as tiffin:
            relay = projector(tiffin, tiffin.views(), KAFKA_RELAY)
            published, still = relay.retry_parked(), len(relay.parked())
        print(f"{KAFKA_RELAY}: {published} parked event(s) published, {still} still parked")
        return 0 if still == 0 else 1
    with bootstrap(load_settings()) as tiffin:
        if tiffin.work_store().retry(args.queue, args.key, time.time()):
            print(f"{args.queue} {args.key}: back in line, due now")
            return 0
    print(f"tiffin: no parked {args.queue} item {args.key!r}")
    return 1


def add_commands(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run the saga's workers: process managers, deadline scheduler, payment outbox",
        description="Runs the saga's components until SIGTERM. Each component runs in one "
        "process at a time; a second worker for the same component waits as a hot standby.",
    )
    worker.add_argument(
        "--only",
        nargs="+",
        choices=COMPONENTS,
        metavar="NAME",
        help=f"among {', '.join(COMPONENTS)}",
    )
    worker.set_defaults(run=run_worker)
    work = commands.add_parser(
        "work", help="list the deadlines and gateway calls; retry parked ones"
    )
    actions = work.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="scheduled and parked items")
    listing.add_argument("--queue", nargs="+", choices=[*QUEUES, KAFKA_RELAY])
    listing.add_argument("--parked", action="store_true", help="only the parked (dead letters)")
    listing.set_defaults(run=list_work)
    health = actions.add_parser(
        "health", help="each running worker's components: running, failing, standby, resting"
    )
    health.set_defaults(run=show_health)
    retry = actions.add_parser("retry", help="put a parked item back in line")
    retry.add_argument("queue", choices=[*QUEUES, KAFKA_RELAY])
    retry.add_argument("key", help=f"the item's key ({KAFKA_RELAY}: any, all go again in order)")
    retry.set_defaults(run=retry_work)
