"""``python -m bench`` (also ``tiffin bench``): the write-path and replay benchmarks;
``python -m bench projections`` (``tiffin bench projections``): the read-model benchmark;
``python -m bench api`` (``tiffin bench api``): the HTTP API benchmark;
``python -m bench kafka`` (``tiffin bench kafka``): the integration-events benchmark;
``python -m bench live`` (``tiffin bench live``): the live channels' fan-out benchmark;
``python -m bench capacity`` (``tiffin bench capacity``): the capacity plan, docs/capacity.md."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.database import add_server_url, scratch_database
from bench.report import table, write_json
from bench.suite import progress, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin bench",
        description="Measures raw INSERT commits, eventsourcing's default save path, Tiffin's "
        "group-commit path and replay side by side in one run, in a scratch database.",
        epilog="`tiffin bench projections` runs the read-model benchmark instead "
        "(see `tiffin bench projections --help`); `tiffin bench api` the HTTP API benchmark "
        "(see `tiffin bench api --help`).",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per row (max 20)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 0.5 s per row")
    add_server_url(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["projections"]:
        from bench.projections import main as projections_main

        return projections_main(arguments[1:])
    if arguments[:1] == ["kafka"]:
        from bench.kafka import main as kafka_main

        return kafka_main(arguments[1:])
    if arguments[:1] == ["api"]:
        from bench.api import main as api_main

        return api_main(arguments[1:])
    if arguments[:1] == ["capacity"]:
        from bench.capacity import main as capacity_main

        return capacity_main(arguments[1:])
    if arguments[:1] == ["live"]:
        from bench.live import main as live_main

        return live_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    seconds = 0.5 if args.quick else args.seconds
    if not 0 < seconds <= 20:
        build_parser().error("--seconds must be more than 0 and at most 20")
    with scratch_database(args.server_url) as database_url:
        rows = run(database_url, seconds, progress)
    print(table(rows))
    if args.json:
        write_json(rows, args.json, {"seconds_per_row": seconds, "cpus": os.cpu_count()})
        progress(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
