"""The ``tiffin`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from api.call_command import add_commands as add_call_commands
from api.projection_commands import add_commands as add_projection_commands
from api.serve_commands import add_commands as add_serve_commands
from api.token_commands import add_commands as add_token_commands
from api.worker_commands import add_commands
from application.bootstrap import bootstrap
from application.demo import run_demo
from application.settings import ConfigurationError, load_settings


def _demo(_: argparse.Namespace) -> int:
    settings = load_settings()
    where = f"SQLite files in {settings.data_dir}" if settings.embedded else "PostgreSQL"
    print(f"tiffin demo: event store on {where}", flush=True)
    with bootstrap(settings) as tiffin:
        runtime = tiffin.runtime()
        runtime.start()
        try:
            run_demo(tiffin, lambda line: print(line, flush=True))
        finally:
            runtime.stop()
    return 0


def _bench(arguments: Sequence[str]) -> int:
    from bench.__main__ import main as bench_main  # the benchmarks load only when asked for

    return bench_main(arguments)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin",
        description="Tiffin: event-sourced multi-vendor food delivery.",
        epilog="Configuration comes from TIFFIN_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="deliver one order end to end and print its event history",
        description="Registers a restaurant and a courier, places an order, drives it through "
        "payment, acceptance, assignment, pickup and delivery, then prints its history.",
    )
    demo.set_defaults(run=_demo)
    add_commands(commands)
    add_projection_commands(commands)
    add_token_commands(commands)
    add_serve_commands(commands)
    add_call_commands(commands)
    commands.add_parser(
        "bench",
        help="benchmark the write path and replay against PostgreSQL (see `tiffin bench --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:  # its own options, including its own --help
        return _bench(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        code: int = args.run(args)
    except ConfigurationError as error:
        print(f"tiffin: configuration error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
