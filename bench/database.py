"""A throwaway database for one benchmark run."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
from psycopg import sql

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def add_server_url(parser: argparse.ArgumentParser) -> None:
    """The PostgreSQL server a benchmark makes its scratch database on."""
    parser.add_argument(
        "--server-url",
        default=os.environ.get("TIFFIN_BENCH_SERVER_URL", DEFAULT_SERVER),
        help="PostgreSQL server to create the scratch database on "
        "(default: $TIFFIN_BENCH_SERVER_URL or %(default)s)",
    )


@contextmanager
def scratch_database(server_url: str, prefix: str = "tiffin_bench") -> Iterator[str]:
    """Creates a new database on the server for the run and drops it afterwards."""
    name = f"{prefix}_{uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
