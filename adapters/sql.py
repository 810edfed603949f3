"""One small SQL port over SQLite (embedded) and PostgreSQL (server mode).

Statements are written once with ``?`` placeholders and portable SQL (``INSERT … ON CONFLICT``,
``excluded``); each database runs them in its own transactions. One connection per instance,
used by one thread at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

Run = Callable[[str, Sequence[Any]], Any]  # runs one statement; returns a cursor


class SqlDatabase(Protocol):
    def transaction(self) -> Any:
        """A context manager yielding ``run``; commits on success, rolls back on error."""
        ...

    def close(self) -> None: ...


class SqliteDatabase:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Run]:
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, params: connection.execute(sql, params)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()


class PostgresDatabase:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection = psycopg.connect(url, autocommit=True)
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Run]:
        with self._lock:
            if self._connection.broken:
                self._connection = psycopg.connect(self._url, autocommit=True)
            connection = self._connection
            with connection.transaction():
                yield lambda sql, params: connection.execute(sql.replace("?", "%s"), params)

    def close(self) -> None:
        self._connection.close()


def create_tables(database: SqlDatabase, statements: Sequence[str], lock_name: str) -> None:
    """Runs DDL once, one process at a time (PostgreSQL races on concurrent CREATE TABLE)."""
    with database.transaction() as run:
        if isinstance(database, PostgresDatabase):
            run("SELECT pg_advisory_xact_lock(hashtext(?))", (lock_name,))
        for statement in statements:
            run(statement, ())


def open_database(database_url: str | None, sqlite_path: Path) -> SqliteDatabase | PostgresDatabase:
    """PostgreSQL when a URL is configured (server mode), else an SQLite file."""
    if database_url is not None:
        return PostgresDatabase(database_url)
    return SqliteDatabase(sqlite_path)
