"""``tiffin bench projections`` (``python -m bench projections``): the read-model benchmark.

In a scratch database on the local PostgreSQL, side by side in one run:

(s) seeding: orders through their lifecycle written through the applications (group commit);
(f) rebuild: each registered projection's projector applying from position 0 into empty views,
    beside the baseline of merely reading and decoding the same notifications (and, for the
    first projection, merely reading them);
(g) lag under load: a steady, open-loop write load while ``tiffin worker --only NAME`` keeps
    the view in a process of its own: each command's lag from commit until the view has it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from application.settings import load_settings
from bench.database import add_server_url, scratch_database
from bench.lag import measure_lag
from bench.rebuild import Rebuild, measure_reading, measure_rebuild, reading_of, rebuilt
from bench.report import write_json
from bench.seed import seed_orders
from bench.suite import Row
from cli.heap import settle_heap
from projections.registry import EVERY_VIEW, HOT_VIEWS
from wiring.bootstrap import Tiffin, bootstrap

REBUILD_RATIO_TARGET = 0.8  # of the same events' read + decode rate (issue 18)
READ_DECODE_TARGET = 100_000  # events/s (issue 18)
SUMMARY_REBUILD_TARGET = 80_000  # events/s, order_summary's rebuild (issue 18)
LAG_P99_TARGET_MS = 100.0
DEFAULT_POLL = 0.2  # TIFFIN_WORKER_POLL_SECONDS' default
SHORT_POLL = 0.01  # about what a worker woken by each commit would see
Say = Callable[[str], None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin bench projections",
        description="Rebuild rate of every projection (against reading and decoding the same "
        "events) and projection lag under a steady write load, in a scratch database.",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--events", type=int, default=100_000, help="events to seed (default %(default)s)"
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="write load in events/s (default %(default)s)"
    )
    parser.add_argument(
        "--lag-seconds", type=float, default=30.0, help="time under load (default %(default)s)"
    )
    parser.add_argument(
        "--poll",
        type=float,
        nargs="+",
        metavar="SECONDS",
        help="the worker's TIFFIN_WORKER_POLL_SECONDS: one lag row each (default: "
        f"{DEFAULT_POLL} (its default) and {SHORT_POLL}; with --quick {DEFAULT_POLL})",
    )
    parser.add_argument(
        "--lag-projection",
        default="order_summary",
        choices=sorted(EVERY_VIEW),
        help="the projection whose lag is measured (default %(default)s)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(EVERY_VIEW),
        metavar="NAME",
        help="rebuild only these projections (default: every one in the registry)",
    )
    parser.add_argument("--seed-threads", type=int, default=4, help="(default %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 3,000 events, 2 s under a load of 200 events/s",
    )
    add_server_url(parser)
    return parser


def rebuild_rows(
    tiffin: Tiffin, names: Sequence[str], say: Say, rebuild: Rebuild = rebuilt
) -> list[Row]:
    """Per projection: reading and decoding its events (the baseline), then rebuilding it."""
    rows = []
    for number, name in enumerate(names):
        leaders, topics = reading_of(tiffin, name)
        if number == 0:
            say(f"(f) {name}: reading its notifications, not decoding them ...")
            read = measure_reading(leaders, topics, decode=False)
            rows.append(_rate_row("f", f"{name}: read only", read.per_second, read.events))
        say(f"(f) {name}: reading and decoding its notifications ...")
        baseline = measure_reading(leaders, topics)
        decoded = _rate_row("f", f"{name}: read + decode", baseline.per_second, baseline.events)
        decoded.extra["target"] = f">={READ_DECODE_TARGET:,}"
        rows.append(decoded)
        say(f"(f) {name}: rebuilding from position 0 into empty views ...")
        rebuilt = measure_rebuild(tiffin, name, rebuild)
        row = _rate_row("f", f"{name}: rebuild", rebuilt.per_second, rebuilt.events)
        row.extra["ratio"] = _ratio(rebuilt.per_second, baseline.per_second)
        row.extra["target"] = f"ratio>={REBUILD_RATIO_TARGET:g}" + (
            f", >={SUMMARY_REBUILD_TARGET:,}" if name == "order_summary" else ""
        )
        row.extra["view"] = "keys, in-process" if name in HOT_VIEWS else "sql"
        rows.append(row)
    return rows


def lag_rows(
    tiffin: Tiffin, name: str, rate: float, seconds: float, polls: Sequence[float], say: Say
) -> list[Row]:
    rows = []
    for poll in polls:
        say(f"(g) {name}: lag under {rate:,.0f} events/s for {seconds:g} s, worker poll {poll} s")
        result = measure_lag(tiffin, name, rate, seconds, poll, say)
        rows.append(
            Row(
                "g",
                f"{name}: lag, poll {poll:g} s",
                None,
                result.per_second,
                "events/s",
                result.percentile(0.50),
                result.percentile(0.99),
                {
                    "max_ms": round(max(result.lags_ms), 1) if result.lags_ms else None,
                    "ratio": _ratio(result.per_second, rate),
                    "target": f"p99<={LAG_P99_TARGET_MS:g}ms",
                    "commands": result.commands,
                    "lagged": len(result.lags_ms),
                    "errors": result.errors,
                    "uncovered": result.uncovered,
                    "slip_p99_ms": round(result.slip_p99_ms, 1),
                    "worker": "process",
                    "writer": "process",
                },
            )
        )
    return rows


def run(args: argparse.Namespace, database_url: str, say: Say) -> list[Row]:
    names = list(args.only or EVERY_VIEW)
    with tempfile.TemporaryDirectory(prefix="tiffin-bench-") as data_dir:
        settings = load_settings(
            {
                "TIFFIN_DATABASE_URL": database_url,
                "TIFFIN_DATA_DIR": data_dir,
                "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
            }
        )
        with bootstrap(settings) as tiffin:
            say(f"(s) seeding {args.events:,} events: orders through their lifecycle ...")
            seeded = seed_orders(tiffin, args.events, say, threads=args.seed_threads)
            rows = [_rate_row("s", "seed: orders, lifecycles", seeded.per_second, seeded.events)]
            rows[0].extra["orders"] = seeded.orders
            settle_heap()  # as `tiffin projections rebuild` does once it has started
            rows += rebuild_rows(tiffin, names, say)
            rows += lag_rows(
                tiffin, args.lag_projection, args.rate, args.lag_seconds, args.poll, say
            )
    return rows


def _rate_row(key: str, label: str, per_second: float, events: int) -> Row:
    return Row(key, label, None, per_second, "events/s", extra={"events": events})


def _ratio(value: float, base: float) -> float | None:
    return round(value / base, 3) if base else None


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    """Rows with their rate, lag percentiles and ratio: a rebuild to reading and decoding the
    same events, a lag row's achieved write rate to the one asked for."""
    lines = [
        f"{'row':<4}{'path':<36}{'rate':>10} {'unit':<9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'ratio':>7}  notes"
    ]
    shown = ("max_ms", "ratio")
    for r in rows:
        notes = ", ".join(f"{k}={v}" for k, v in r.extra.items() if k not in shown)
        lines.append(
            f"{r.key:<4}{r.label:<36}{_num(r.per_second):>10} {r.unit:<9}"
            f"{_num(r.p50_ms, 1):>9}{_num(r.p99_ms, 1):>9}{_num(r.extra.get('max_ms'), 1):>9}"
            f"{_num(r.extra.get('ratio'), 2):>7}  {notes}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rate, args.lag_seconds = 3_000, 200.0, 2.0
    if args.poll is None:
        args.poll = [DEFAULT_POLL] if args.quick else [DEFAULT_POLL, SHORT_POLL]
    if args.events < 1 or args.rate <= 0 or args.lag_seconds <= 0:
        parser.error("--events, --rate and --lag-seconds must be positive")
    with scratch_database(args.server_url) as database_url:
        rows = run(args, database_url, progress)
    print(table(rows))
    if args.json:
        settings = {
            "events": args.events,
            "rate": args.rate,
            "lag_seconds": args.lag_seconds,
            "poll": args.poll,
            "cpus": os.cpu_count(),
        }
        write_json(rows, args.json, settings)
        progress(f"results written to {args.json}")
    return 0


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
