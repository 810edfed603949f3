"""The schema's version, one row in the work database, and the lock ``tiffin migrate`` holds
while it creates and upgrades tables (PostgreSQL: a session advisory lock; SQLite: a lock
file in the data directory), so that replicas starting together never race on DDL."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from adapters.private_files import private_directory
from adapters.sql import SqlDatabase

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS tiffin_schema_version ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,"
    " migrated_at DOUBLE PRECISION NOT NULL)"
)
RECORD = (
    "INSERT INTO tiffin_schema_version (id, version, migrated_at) VALUES (1, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
    " migrated_at = excluded.migrated_at"
)
LOCK_KEY = "tiffin-migrate"


class NoSchema(Exception):
    """The database has no schema version: ``tiffin migrate`` never ran on it."""


def stored_version(database: SqlDatabase) -> int:
    """The version the schema was last migrated to; NoSchema if it never was."""
    try:
        with database.transaction() as run:
            row = run("SELECT version FROM tiffin_schema_version WHERE id = 1", ()).fetchone()
    except (psycopg.errors.UndefinedTable, sqlite3.OperationalError) as error:
        if isinstance(error, sqlite3.OperationalError) and "no such table" not in str(error):
            raise
        raise NoSchema("no tiffin_schema_version table") from error
    if row is None:
        raise NoSchema("no version recorded")
    return int(row[0])


def record_version(database: SqlDatabase, version: int, now: float) -> None:
    with database.transaction() as run:
        run(CREATE_TABLE, ())
        run(RECORD, (version, now))


@contextmanager
def migration_lock(database_url: str | None, data_dir: Path) -> Iterator[None]:
    """Held by one migrating process at a time; the others wait for it."""
    if database_url is None:
        private_directory(data_dir)
        descriptor = os.open(data_dir / "migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # and with it the lock
        return
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (LOCK_KEY,))
