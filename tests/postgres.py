"""Throwaway PostgreSQL databases and schemas on the machine's real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote
from uuid import uuid4

import psycopg
from psycopg import sql

from bench.database import scratch_database

SERVER_URL = os.environ.get(
    "TEST_POSTGRES_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database for one test run (dropped afterwards), or TEST_DATABASE_URL's."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with scratch_database(SERVER_URL, prefix="tiffin_test") as url:
        yield url


@contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A new schema in the database; yields a URL whose search_path selects it."""
    name = f"t_{uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield f"{database_url}?options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
