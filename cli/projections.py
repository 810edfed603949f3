"""``tiffin projections``: how far each read model is behind, its parked events, rebuilding it
and its Prometheus metrics."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from application.settings import Settings, load_settings
from cli.heap import settle_heap
from cli.output import print_table, progress_bar
from projections.metrics import register_lag
from projections.projector import Parked
from projections.rebuild import rebuild
from projections.registry import EVERY_VIEW, HOT_VIEWS, PROJECTIONS
from wiring.bootstrap import bootstrap
from wiring.workers import KAFKA_RELAY, live_view, projector

STATUS_COLUMNS = ("projection", "log", "position", "head", "lag events", "lag s", "parked")


def shared_views(settings: Settings) -> list[str]:
    """The views this command can see: the SQL ones, the key-value ones when they are in
    Redis (on the embedded default each process keeps its own, rebuilt when it starts), and
    the Kafka relay when it is configured."""
    relay = [KAFKA_RELAY] if settings.kafka_bootstrap_servers else []
    return [*PROJECTIONS, *(HOT_VIEWS if settings.redis_url else ()), *relay]


def refuse_in_process(settings: Settings, name: str) -> int | None:
    if name in HOT_VIEWS and not settings.redis_url:
        print(
            f"{name} is kept in-process on the embedded default (TIFFIN_REDIS_URL is not set):"
            " each process builds its own from the logs when it starts; there is nothing shared"
            " to act on.",
            file=sys.stderr,
        )
        return 2
    return None


def show_status(_: argparse.Namespace) -> int:
    settings = load_settings()
    rows: list[tuple[object, ...]] = []
    all_parked: list[Parked] = []
    with bootstrap(settings) as tiffin:
        now = time.time()
        for name in shared_views(settings):
            running = projector(tiffin, tiffin.views(), name)
            parked = running.parked()
            all_parked.extend(parked)
            for lag in running.lag(now):
                stuck = sum(p.leader == lag.leader for p in parked)
                seconds = f"{lag.seconds:.1f}"
                rows.append((name, lag.leader, lag.position, lag.head, lag.events, seconds, stuck))
    print_table(STATUS_COLUMNS, rows, right=STATUS_COLUMNS[2:])
    for item in all_parked:
        print(f"  parked: {item.leader} {item.position} {item.topic}: {item.error}")
    return 0


def rebuild_view(arguments: argparse.Namespace) -> int:
    name, settings = arguments.name, load_settings()
    if (refused := refuse_in_process(settings, name)) is not None:
        return refused
    with bootstrap(settings) as tiffin:
        live = projector(tiffin, tiffin.views(), name)
        settle_heap()
        with progress_bar(f"rebuilding {name}", "positions") as advance:
            shadow = live_view(tiffin, tiffin.views(), name)
            rebuilt = rebuild(live.projection, live.leaders, shadow, advance, live.personal)
            reached = sum(live.position(leader.name) for leader in live.leaders)
            advance(reached, reached)
    rate = rebuilt.events / max(rebuilt.seconds, 1e-9)
    print(
        f"rebuilt {name}: {rebuilt.events:,} events in {rebuilt.seconds:.1f} s ({rate:,.0f}/s),"
        f" {rebuilt.parked} parked; the rebuilt view is now the live one"
    )
    return 0


def retry_parked(arguments: argparse.Namespace) -> int:
    settings = load_settings()
    if (refused := refuse_in_process(settings, arguments.name)) is not None:
        return refused
    with bootstrap(settings) as tiffin:
        running = projector(tiffin, tiffin.views(), arguments.name)
        retried = running.retry_parked()
        still = len(running.parked())
    print(f"{arguments.name}: {retried} parked event(s) applied, {still} still parked")
    return 0 if still == 0 else 1


def show_metrics(_: argparse.Namespace) -> int:
    settings = load_settings()
    with bootstrap(settings) as tiffin:
        registry = CollectorRegistry()
        names = shared_views(settings)
        register_lag(registry, lambda: [projector(tiffin, tiffin.views(), n) for n in names])
        print(generate_latest(registry).decode(), end="")
    return 0


def add_commands(commands: Any) -> None:
    projections = commands.add_parser(
        "projections", help="read models: lag, parked events, rebuild, metrics"
    )
    actions = projections.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="per projection and log: position, head, lag")
    status.set_defaults(run=show_status)
    rebuilding = actions.add_parser(
        "rebuild",
        help="rebuild a view from position 0 into a shadow, then switch to it atomically",
        description="The live view keeps serving (and its worker keeps running) meanwhile.",
    )
    rebuilding.add_argument("name", choices=list(EVERY_VIEW))
    rebuilding.set_defaults(run=rebuild_view)
    retry = actions.add_parser("retry", help="apply a projection's parked events again")
    retry.add_argument("name", choices=[*EVERY_VIEW, KAFKA_RELAY])
    retry.set_defaults(run=retry_parked)
    metrics = actions.add_parser("metrics", help="the projections' metrics, Prometheus text")
    metrics.set_defaults(run=show_metrics)
