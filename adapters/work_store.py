"""The work-item table of the saga's deadlines and outbox, in SQLite or PostgreSQL.

Two tables: ``tiffin_work_items`` (one row per scheduled item; ``version`` grows with each
reschedule, so a dispatcher never removes or moves an item rescheduled after it read it) and
``tiffin_work_positions`` (how far each queue has read each leader's log). A batch of changes
and its position are written in one transaction; the position only moves forward.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from application.work import PARKED, SCHEDULED, Cancel, Change, Schedule, WorkItem

CREATE_TABLES = (
    "CREATE TABLE IF NOT EXISTS tiffin_work_items ("
    " queue TEXT NOT NULL, key TEXT NOT NULL, due_at DOUBLE PRECISION NOT NULL,"
    " payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT 'scheduled', last_error TEXT NOT NULL DEFAULT '',"
    " version BIGINT NOT NULL DEFAULT 1, PRIMARY KEY (queue, key))",
    "CREATE INDEX IF NOT EXISTS tiffin_work_items_due ON tiffin_work_items (queue, status, due_at)",
    "CREATE TABLE IF NOT EXISTS tiffin_work_positions ("
    " queue TEXT NOT NULL, leader TEXT NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (queue, leader))",
)
ADVANCE = (
    "INSERT INTO tiffin_work_positions (queue, leader, position) VALUES (?, ?, ?)"
    " ON CONFLICT (queue, leader) DO UPDATE SET position = excluded.position"
    " WHERE tiffin_work_positions.position < excluded.position"
)
SCHEDULE = (
    "INSERT INTO tiffin_work_items (queue, key, due_at, payload) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (queue, key) DO UPDATE SET due_at = excluded.due_at,"
    " payload = excluded.payload, attempts = 0, status = 'scheduled', last_error = '',"
    " version = tiffin_work_items.version + 1"
)


class SqlWorkStore:
    """Shared by both databases; they differ in connecting, placeholders and transactions."""

    placeholder = "?"

    ddl_lock: str | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        with self._transaction() as run:
            if self.ddl_lock:  # processes starting together create the tables one at a time
                run(self.ddl_lock, ())
            for statement in CREATE_TABLES:
                run(statement, ())

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.placeholder)

    def position(self, queue: str, leader: str) -> int:
        with self._transaction() as run:
            rows = run(
                "SELECT position FROM tiffin_work_positions WHERE queue = ? AND leader = ?",
                (queue, leader),
            ).fetchall()
        return int(rows[0][0]) if rows else 0

    def apply(self, queue: str, leader: str, position: int, changes: Sequence[Change]) -> bool:
        with self._transaction() as run:
            if run(ADVANCE, (queue, leader, position)).rowcount != 1:
                return False
            for change in changes:
                if isinstance(change, Schedule):
                    payload = json.dumps(change.payload, sort_keys=True)
                    run(SCHEDULE, (queue, change.key, change.due_at, payload))
                else:
                    self._delete(run, queue, change)
        return True

    @staticmethod
    def _delete(run: Any, queue: str, change: Cancel) -> None:
        run(
            "DELETE FROM tiffin_work_items WHERE queue = ? AND key = ? AND status = ?",
            (queue, change.key, SCHEDULED),
        )

    def due(self, queue: str, now: float, limit: int) -> list[WorkItem]:
        with self._transaction() as run:
            rows = run(
                "SELECT queue, key, due_at, payload, attempts, status, last_error, version"
                " FROM tiffin_work_items WHERE queue = ? AND status = ? AND due_at <= ?"
                " ORDER BY due_at LIMIT ?",
                (queue, SCHEDULED, now, limit),
            ).fetchall()
        return [_item(row) for row in rows]

    def finish(self, item: WorkItem) -> None:
        with self._transaction() as run:
            run(
                "DELETE FROM tiffin_work_items WHERE queue = ? AND key = ? AND version = ?",
                (item.queue, item.key, item.version),
            )

    def postpone(self, item: WorkItem, due_at: float, error: str | None, park: bool) -> None:
        with self._transaction() as run:
            run(
                "UPDATE tiffin_work_items SET due_at = ?, status = ?, attempts = attempts + ?,"
                " last_error = ? WHERE queue = ? AND key = ? AND version = ?",
                (
                    due_at,
                    PARKED if park else SCHEDULED,
                    0 if error is None else 1,
                    item.last_error if error is None else error[:2000],
                    item.queue,
                    item.key,
                    item.version,
                ),
            )

    def items(self, queue: str, status: str | None = None) -> list[WorkItem]:
        statuses = [SCHEDULED, PARKED] if status is None else [status]
        with self._transaction() as run:
            rows = run(
                "SELECT queue, key, due_at, payload, attempts, status, last_error, version"
                " FROM tiffin_work_items WHERE queue = ? AND status IN (?, ?)"
                " ORDER BY due_at, key",
                (queue, statuses[0], statuses[-1]),
            ).fetchall()
        return [_item(row) for row in rows]

    def retry(self, queue: str, key: str, now: float) -> bool:
        with self._transaction() as run:
            cursor = run(
                "UPDATE tiffin_work_items SET status = ?, attempts = 0, due_at = ?,"
                " version = version + 1 WHERE queue = ? AND key = ? AND status = ?",
                (SCHEDULED, now, queue, key, PARKED),
            )
            return bool(cursor.rowcount == 1)


def _item(row: Sequence[Any]) -> WorkItem:
    queue, key, due_at, payload, attempts, status, last_error, version = row
    return WorkItem(
        queue, key, float(due_at), json.loads(payload), attempts, status, last_error, version
    )


class SqliteWorkStore(SqlWorkStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        super().__init__()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, params: connection.execute(self._sql(sql), params)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()


class PostgresWorkStore(SqlWorkStore):
    placeholder = "%s"
    ddl_lock = "SELECT pg_advisory_xact_lock(hashtext('tiffin-work-ddl'))"

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection = psycopg.connect(url, autocommit=True)
        super().__init__()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            if self._connection.broken:
                self._connection = psycopg.connect(self._url, autocommit=True)
            with self._connection.transaction():
                yield lambda sql, params: self._connection.execute(self._sql(sql), params)

    def close(self) -> None:
        self._connection.close()
