"""``tiffin bench api`` (``python -m bench api``): the HTTP API end to end, side by side in one
run on the same ``tiffin serve``: orders placed per second (POST /v1/orders, 201, a fresh
Idempotency-Key each) over HTTP/1.1 keep-alive and over HTTP/3, the trivial GET /healthz over
each (the client + server ceiling on this machine: each order rate is given as a ratio to it),
and the hot order-status query (GET /v1/orders/{id}/status) over HTTP/1.1.

Server mode by default: a scratch PostgreSQL database, Redis under a prefix of its own (deleted
afterwards), ``tiffin serve`` and one ``tiffin worker`` in processes of their own, so the saga
and the views run as in production; ``--embedded`` serves the embedded default instead.

Closed loop: each client sends its next request as soon as it has the last response. HTTP/1.1
uses a minimal asyncio + TLS client (``bench.api_clients.RawHttp1``): about a tenth of httpx's
CPU per request, which matters with client and server on the same two cores (``--compare``
shows httpx beside it). HTTP/3 gives each client a QUIC connection of its own, as separate
devices would have (``--compare`` adds one connection shared by all). Each row also says how
much CPU the client, the server, the worker and the rest of the machine used meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import uvloop

from bench.api_drive import Load
from bench.api_load import CRUD, Plan, Step
from bench.api_report import rows_of, table
from bench.api_server import ApiStack, api_stack, crud_stack
from bench.crud_server import add_menu
from bench.database import add_server_url, scratch_database
from bench.footprint import Weighing
from bench.report import write_json
from bench.suite import Row

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
FOOTPRINT_STEP = 2  # HTTP/1.1 orders at full concurrency: what each order costs, caught up
Say = Callable[[str], None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin bench api",
        description="Orders placed per second over HTTP/1.1 and HTTP/3, GET /healthz over "
        "each, and the hot order-status query, against one `tiffin serve` (server mode: "
        "a scratch PostgreSQL database, Redis and a `tiffin worker`).",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per row (default 10)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--embedded", action="store_true", help="serve the embedded default (SQLite) instead"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also measure the httpx client on HTTP/1.1 and one QUIC connection shared by "
        "every client on HTTP/3",
    )
    add_server_url(parser)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TIFFIN_BENCH_REDIS_URL", DEFAULT_REDIS),
        help="Redis (default: $TIFFIN_BENCH_REDIS_URL or %(default)s)",
    )
    return parser


def steps(compare: bool, crud: bool) -> list[Step]:
    """What is measured, in order: each protocol's trivial endpoint before its orders (and,
    in server mode, the CRUD baseline's orders right after Tiffin's)."""
    chosen = [
        Step("HTTP/1.1", "raw", "GET /healthz"),
        Step("HTTP/1.1", "raw", "POST /v1/orders"),
        *([Step("HTTP/1.1", "raw", "POST /v1/orders", target=CRUD)] if crud else []),
        Step("HTTP/3", "h3", "GET /healthz"),
        Step("HTTP/3", "h3", "POST /v1/orders"),
        Step("HTTP/1.1", "raw", "GET /v1/orders/{id}/status"),
        Step("HTTP/1.1", "raw", "POST /v1/orders", clients=1),  # unloaded latency
        Step("HTTP/1.1", "raw", "GET /v1/orders/{id}/status", clients=1),
    ]
    if compare:
        chosen += [
            Step("HTTP/1.1", "httpx", "GET /healthz"),
            Step("HTTP/1.1", "httpx", "POST /v1/orders"),
            Step("HTTP/3", "h3-shared", "GET /healthz"),
            Step("HTTP/3", "h3-shared", "POST /v1/orders"),
        ]
    return chosen


async def measure(
    stack: ApiStack, crud: ApiStack | None, args: argparse.Namespace, say: Say
) -> tuple[list[Row], float]:
    """The rows, and the machine's load (cores) from others just before the run."""
    plan = Plan(stack, args.clients, args.seconds, crud)
    say(f"seeding a restaurant with a menu, online, through the API ({stack.mode}) ...")
    await plan.seed()
    if crud is not None and stack.database_url is not None:
        add_menu(stack.database_url, plan.restaurant_id, plan.menu)
    await plan.settle()
    others = await plan.busy_cores()
    say(f"the machine's other load before the run: {others:.2f} cores")
    loads: list[tuple[Step, Load]] = []
    chosen = steps(args.compare, crud is not None)
    for number, step in enumerate(chosen, 1):
        clients = step.clients or plan.clients
        say(f"[{number}/{len(chosen)}] {step.describe()}, {clients} clients ...")
        weighing = number == FOOTPRINT_STEP and stack.database_url is not None
        before = Weighing.start(stack) if weighing else None
        load = await plan.run(step)
        say(f"    {load.per_second:,.0f}/s, p99 {load.p99_ms:,.1f} ms, errors {load.errors}")
        loads.append((step, load))
        settled = await plan.settle()
        if settled > 1.0:
            say(f"    the worker/server caught up in {settled:.1f} s after the load")
        load.extra["settle_s"] = round(settled, 1)
        load.extra["clients"] = clients
        if before is not None:
            load.extra["per_order"] = before.finish(stack, len(load.timings))
            say(f"    per order: {load.extra['per_order']}")
    return rows_of(loads), others


@contextlib.contextmanager
def served(args: argparse.Namespace) -> Iterator[tuple[ApiStack, ApiStack | None]]:
    """Tiffin's stack, and in server mode the CRUD baseline beside it."""
    with tempfile.TemporaryDirectory(prefix="tiffin-bench-api-") as data_dir:
        if args.embedded:
            with api_stack(Path(data_dir), None, None) as stack:
                yield stack, None
            return
        with (
            scratch_database(args.server_url) as database_url,
            api_stack(Path(data_dir), database_url, args.redis_url) as stack,
            crud_stack(Path(data_dir), stack) as crud,
        ):
            yield stack, crud


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 120:
        parser.error("--seconds must be more than 0 and at most 120")
    if not 1 <= args.clients <= 1000:
        parser.error("--clients must be between 1 and 1000")
    with served(args) as (stack, crud):
        rows, others = uvloop.run(measure(stack, crud, args, progress))
        mode, prefix = stack.mode, stack.redis_prefix
    print(
        f"tiffin bench api: {mode}, {args.seconds:g} s per row; the client shares the "
        f"machine's {os.cpu_count()} CPUs with the server (and worker, PostgreSQL, Redis); "
        f"others' load before the run: {others:.2f} cores"
    )
    print(table(rows))
    if args.json:
        settings = {
            "seconds_per_row": args.seconds,
            "clients": args.clients,
            "mode": mode,
            "cpus": os.cpu_count(),
            "others_busy_cores_before": round(others, 2),
            "redis_prefix": prefix,
        }
        write_json(rows, args.json, settings)
        progress(f"results written to {args.json}")
    return 0


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
