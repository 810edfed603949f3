"""The ``tiffin`` command line: every command group, and one line for every failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from application.settings import ConfigurationError
from cli.call import add_commands as add_call_commands
from cli.demo import add_commands as add_demo_commands
from cli.events import add_commands as add_event_commands
from cli.failures import EXIT_FAILED, one_line
from cli.keys import add_commands as add_key_commands
from cli.migrate import add_commands as add_migrate_commands
from cli.payments import add_commands as add_payment_commands
from cli.projections import add_commands as add_projection_commands
from cli.serve import add_commands as add_serve_commands
from cli.tokens import add_commands as add_token_commands
from cli.workers import add_commands as add_worker_commands

PLUGINS = "tiffin.commands"  # entry points of packages adding commands (the benchmarks)
Command = Callable[[Sequence[str]], int]


def build_parser(plugins: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin",
        description="Tiffin: event-sourced multi-vendor food delivery.",
        epilog="Configuration comes from TIFFIN_* environment variables (see README).",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="on a failure, show the whole traceback"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_commands(commands)
    add_migrate_commands(commands)
    add_worker_commands(commands)
    add_projection_commands(commands)
    add_payment_commands(commands)
    add_key_commands(commands)
    add_event_commands(commands)
    add_token_commands(commands)
    add_serve_commands(commands)
    add_call_commands(commands)
    for name in plugins:
        commands.add_parser(
            name, help=f"see `tiffin {name} --help` (its own options)", add_help=False
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    plugins = {point.name: point for point in entry_points(group=PLUGINS)}
    if arguments[:1] and arguments[0] in plugins:  # its own options, including its own --help
        run_plugin: Command = plugins[arguments[0]].load()
        return run_plugin(arguments[1:])
    args = build_parser(sorted(plugins)).parse_args(arguments)
    try:
        code: int = args.run(args)
    except ConfigurationError as error:
        print(f"tiffin: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tiffin: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # every failure is one line and an exit code
        if args.traceback:
            raise
        print(f"tiffin {args.command}: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
