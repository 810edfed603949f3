"""The work-item table of the saga's deadlines and outbox, in SQLite or PostgreSQL.

``tiffin_work_items`` holds one row per scheduled item; ``version`` grows with each reschedule,
so a dispatcher never removes or moves an item rescheduled after it read it. The queues'
projectors keep their read positions in the same database, written in the same transaction as
the changes (``projections/projector.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapters.sql import SqlDatabase, create_tables
from application.work import PARKED, SCHEDULED, Change, Schedule, WorkItem

CREATE_TABLES = (
    "CREATE TABLE IF NOT EXISTS tiffin_work_items ("
    " queue TEXT NOT NULL, key TEXT NOT NULL, due_at DOUBLE PRECISION NOT NULL,"
    " payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT 'scheduled', last_error TEXT NOT NULL DEFAULT '',"
    " version BIGINT NOT NULL DEFAULT 1, PRIMARY KEY (queue, key))",
    "CREATE INDEX IF NOT EXISTS tiffin_work_items_due ON tiffin_work_items (queue, status, due_at)",
)
SCHEDULE = (
    "INSERT INTO tiffin_work_items (queue, key, due_at, payload) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (queue, key) DO UPDATE SET due_at = excluded.due_at,"
    " payload = excluded.payload, attempts = 0, status = 'scheduled', last_error = '',"
    " version = tiffin_work_items.version + 1"
)

CLAIM = (  # {row_lock}: PostgreSQL passes over rows another claim is taking
    "UPDATE tiffin_work_items SET due_at = ? WHERE (queue, key) IN ("
    " SELECT queue, key FROM tiffin_work_items WHERE queue = ? AND status = ? AND due_at <= ?"
    " ORDER BY due_at LIMIT ?{row_lock})"
    " RETURNING queue, key, due_at, payload, attempts, status, last_error, version"
)

DELETE_ITEM = "DELETE FROM tiffin_work_items WHERE queue = ? AND key = ? AND version = ?"


class SqlWorkStore:
    def __init__(self, database: SqlDatabase, more_tables: Sequence[str] = ()) -> None:
        self.database = database
        self._transaction = database.transaction
        self._claim = CLAIM.format(row_lock=database.row_lock)
        create_tables(database, [*CREATE_TABLES, *more_tables], "tiffin-work-ddl")

    def close(self) -> None:
        self.database.close()

    def record(self, run: Any, queue: str, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, Schedule):
                payload = json.dumps(change.payload, sort_keys=True)
                run(SCHEDULE, (queue, change.key, change.due_at, payload))
            else:
                run(
                    "DELETE FROM tiffin_work_items WHERE queue = ? AND key = ? AND status = ?",
                    (queue, change.key, SCHEDULED),
                )

    def claim(self, queue: str, now: float, limit: int, lease_until: float) -> list[WorkItem]:
        """Takes up to ``limit`` items due at ``now`` (the earliest due), moving them to
        ``lease_until`` in the same statement: no other process sees them due until the lease
        ends, so two never run the same item at once. Their version is kept, so a finish or
        postpone still applies."""
        with self._transaction() as run:
            rows = run(self._claim, (lease_until, queue, SCHEDULED, now, limit)).fetchall()
        return sorted((_item(row) for row in rows), key=lambda item: item.key)

    def finish(self, item: WorkItem) -> None:
        with self._transaction() as run:
            run(DELETE_ITEM, (item.queue, item.key, item.version))

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

    def replace(self, item: WorkItem, changes: Sequence[Change]) -> None:
        with self._transaction() as run:
            cursor = run(DELETE_ITEM, (item.queue, item.key, item.version))
            if cursor.rowcount == 1:
                self.record(run, item.queue, changes)

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

    def counts(self) -> dict[tuple[str, str], int]:
        """How many items each queue holds, by status."""
        with self._transaction() as run:
            rows = run(
                "SELECT queue, status, COUNT(*) FROM tiffin_work_items GROUP BY queue, status", ()
            ).fetchall()
        return {(queue, status): int(count) for queue, status, count in rows}

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


class WorkItemsCollector(Collector):
    """``tiffin_work_items{queue, status}``: what each queue holds, scheduled and parked (a
    parked item waits for ``tiffin work retry``)."""

    def __init__(self, store: SqlWorkStore, queues: Sequence[str]) -> None:
        self.store = store
        self.queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self.store.counts()
        family = GaugeMetricFamily(
            "tiffin_work_items",
            "items in each work queue, by status (parked: failed too often, or refused)",
            labels=["queue", "status"],
        )
        for queue in self.queues:
            for status in (SCHEDULED, PARKED):
                family.add_metric([queue, status], counts.get((queue, status), 0))
        yield family
