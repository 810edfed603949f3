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

from adapters.private_files import private_database

Run = Callable[[str, Sequence[Any]], Any]  # runs one statement; returns a cursor


class SqlDatabase(Protocol):
    row_lock: str  # what a SELECT adds to pass over rows another transaction is claiming
    rows_as_json: bool  # see projections.views.SqlDatabase

    def transaction(self, durable: bool = True) -> Any:
        """A context manager yielding ``run``; commits on success, rolls back on error.
        ``durable=False``: the commit may return before it is on disk (a crash of the database
        server can lose it whole, never in part)."""
        ...

    def close(self) -> None: ...


class SqliteDatabase:
    row_lock = ""  # a write transaction (BEGIN IMMEDIATE) already excludes every other writer
    rows_as_json = False  # its statements of many parameters cost little

    def __init__(self, path: Path, creates_tables: bool = True) -> None:
        self.creates_tables = creates_tables
        private_database(path)
        self._connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Run]:
        with self._lock:  # every commit durable: ``durable`` is for a server's sake
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


class _Pipelined:
    """The statements of one transaction, sent in pipeline mode: a statement goes to the server
    without waiting for the one before, and the results come back at the commit, or as soon as
    a caller reads one (its rows, ``rowcount``, ``description``): then everything sent so far
    is synced, one round trip. A transaction that only writes costs two round trips, however
    many statements it has; a statement's error is raised at that sync, at the latest when the
    transaction commits, so it still fails (and rolls back) the whole transaction."""

    def __init__(self, connection: psycopg.Connection[Any], pipeline: psycopg.Pipeline) -> None:
        self._connection = connection
        self._pipeline = pipeline
        self._sent = 0
        self._synced = 0

    def run(self, sql: str, params: Sequence[Any]) -> _Result:
        cursor = self._connection.execute(sql.replace("?", "%s"), params)
        self._sent += 1
        return _Result(cursor, self, self._sent)

    def sync_through(self, number: int) -> None:
        if number > self._synced:
            self._pipeline.sync()
            self._synced = self._sent


class _Result:
    """A statement's cursor whose results are fetched when first read."""

    def __init__(self, cursor: psycopg.Cursor[Any], pipelined: _Pipelined, number: int) -> None:
        self._cursor = cursor
        self._pipelined = pipelined
        self._number = number

    def __getattr__(self, name: str) -> Any:
        self._pipelined.sync_through(self._number)
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        self._pipelined.sync_through(self._number)
        return iter(self._cursor)


class PostgresDatabase:
    row_lock = " FOR UPDATE SKIP LOCKED"  # rows another transaction is claiming are passed over
    rows_as_json = True  # see projections.views.SqlDatabase

    def __init__(self, url: str, creates_tables: bool = True) -> None:
        self.creates_tables = creates_tables
        self._url = url
        self._connection = psycopg.connect(url, autocommit=True)
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Run]:
        with self._lock:
            if self._connection.broken:
                self._connection = psycopg.connect(self._url, autocommit=True)
            connection = self._connection
            with connection.pipeline() as pipeline, connection.transaction():
                run = _Pipelined(connection, pipeline).run
                if not durable:
                    run("SET LOCAL synchronous_commit = off", ())
                yield run

    def close(self) -> None:
        self._connection.close()


def replica_report(database: PostgresDatabase) -> str:
    """How far a streaming replica's replay is behind (what /readyz shows of it); a database
    that is not in recovery is reported as such (reads from it are still right)."""
    with database.transaction() as run:
        in_recovery, behind = run(
            "SELECT pg_is_in_recovery(),"
            " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())",
            (),
        ).fetchone()
    if not in_recovery:
        return "not a replica (not in recovery): reading the primary"
    if behind is None:
        return "replica, nothing replayed yet"
    return f"replica, last replayed transaction {float(behind):.1f} s ago"


def create_tables(database: SqlDatabase, statements: Sequence[str], lock_name: str) -> None:
    """Runs DDL once, one process at a time (PostgreSQL races on concurrent CREATE TABLE);
    nothing, on a database opened not to create tables (``tiffin migrate`` does)."""
    if not getattr(database, "creates_tables", True):
        return
    with database.transaction() as run:
        if isinstance(database, PostgresDatabase):
            run("SELECT pg_advisory_xact_lock(hashtext(?))", (lock_name,))
        for statement in statements:
            run(statement, ())


def add_column(database: SqlDatabase, table: str, column: str, kind: str) -> bool:
    """Adds the column unless the table has it already; whether it was added (an upgrade
    step of ``tiffin migrate``, safe to run again)."""
    with database.transaction() as run:
        if isinstance(database, PostgresDatabase):
            found = run(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ? AND column_name = ?",
                (table, column),
            ).fetchone()
        else:
            found = next(
                (row for row in run(f"PRAGMA table_info({table})", ()) if row[1] == column), None
            )
        if found is None:
            run(f"ALTER TABLE {table} ADD COLUMN {column} {kind}", ())
    return found is None


def open_database(
    database_url: str | None, sqlite_path: Path, *, create_tables: bool = True
) -> SqliteDatabase | PostgresDatabase:
    """PostgreSQL when a URL is configured (server mode), else an SQLite file; with
    ``create_tables`` off, the stores opened on it leave their tables to ``tiffin migrate``."""
    if database_url is not None:
        return PostgresDatabase(database_url, create_tables)
    return SqliteDatabase(sqlite_path, create_tables)
