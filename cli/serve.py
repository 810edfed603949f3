"""``tiffin serve``: the API over HTTPS on one port: HTTP/1.1 and HTTP/2 on TCP, HTTP/3 on
UDP. On the embedded default it also runs every worker in-process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from application.settings import Settings, load_settings
from cli.heap import settle_heap
from cli.logs import configure_logging
from wiring.serving import serve


def run_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    serve(
        settings,
        args.graceful_seconds,
        on_ready=lambda cert, generated: _welcome(settings, cert, generated),
    )
    print("tiffin serve: stopped", flush=True)
    return 0


def _welcome(settings: Settings, cert: Path, generated: bool) -> None:
    settle_heap()  # listening: the app and its platform are built
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"https://{host}:{settings.port}"
    where = (
        f"embedded default: SQLite files in {settings.data_dir}, every worker in this process"
        if settings.embedded
        else "server mode: PostgreSQL; run `tiffin worker` processes beside this one"
    )
    kind = "self-signed, made for you" if generated else "configured"
    lines = [
        f"tiffin serve: {url} (HTTP/1.1 and HTTP/2 on TCP, HTTP/3 on UDP, port {settings.port})",
        f"  {where}",
        f"  TLS certificate ({kind}): {cert}",
        "  a token:  tiffin token --sub alice --role customer",
        '  a call:   tiffin call GET /v1/restaurants --token "$(tiffin token --sub alice'
        ' --role customer)"',
        f"  docs:     {url}/docs   (curl --cacert {cert} {url}/healthz)",
        "  stop:     Ctrl-C or SIGTERM (requests in flight finish first)",
    ]
    print("\n".join(lines), flush=True)


def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the HTTP API (HTTP/1.1, HTTP/2 and HTTP/3 on one port)",
        description="Serves the API on TIFFIN_HOST:TIFFIN_PORT over TLS (TIFFIN_TLS_CERT and "
        "TIFFIN_TLS_KEY, or a self-signed certificate generated into the data directory). On "
        "the embedded default every worker runs in this process too.",
    )
    parser.add_argument(
        "--graceful-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="on SIGTERM, how long requests in flight may take to finish (default 10)",
    )
    parser.set_defaults(run=run_serve)
