"""Helpers for the write-path tests: a tiny aggregate and applications on each recorder."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Connection
from psycopg.rows import DictRow

from adapters.event_store import GROUP_COMMIT_FACTORY_TOPIC, postgres_env
from adapters.group_commit import GroupCommitRecorder
from application.base import TiffinApplication


class Tally(Aggregate):
    @event("Started")
    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0

    @event("Bumped")
    def bump(self) -> None:
        self.count += 1


class Ledger(TiffinApplication):
    """An application with one events table ("ledger_events") for the write-path tests."""

    name = "Ledger"


def ledger(database_url: str, module: str = GROUP_COMMIT_FACTORY_TOPIC, **env: str) -> Ledger:
    """A Ledger on PostgreSQL, written through ``module``'s factory (group commit by default)."""
    return Ledger(
        {
            **postgres_env(database_url),
            "PERSISTENCE_MODULE": module,
            "CREATE_TABLE": "y",
            "POSTGRES_POOL_SIZE": "10",
            "POSTGRES_MAX_OVERFLOW": "20",
            **env,
        }
    )


class RolledBack(Exception):
    """A transaction a test's recorder rolled back on purpose: its save was never committed."""


def _hold_open(delay: Callable[[float], None], max_delay: float, rollback_share: float) -> None:
    """What a slow recorder does between insert and commit: waits, and may roll back."""
    delay(random.uniform(0, max_delay))
    if rollback_share and random.random() < rollback_share:
        raise RolledBack("rolled back on purpose")


class SlowCommitRecorder(GroupCommitRecorder):
    """Holds each batch's transaction open for a random while between insert and commit (and
    rolls back ``rollback_share`` of them)."""

    max_delay_seconds = 0.01
    rollback_share = 0.0

    def _execute_batch(
        self, conn: Connection[DictRow], columns: tuple[list[Any], ...]
    ) -> list[int]:
        def pg_sleep(seconds: float) -> None:
            conn.execute("SELECT pg_sleep(%s)", (seconds,))

        with conn.transaction():
            ids = super()._execute_batch(conn, columns)
            _hold_open(pg_sleep, self.max_delay_seconds, self.rollback_share)
        return ids


class SometimesRolledBackRecorder(SlowCommitRecorder):
    """Slow commits, and one batch in five rolled back."""

    rollback_share = 0.2


class SometimesRolledBackSqliteRecorder(SQLiteApplicationRecorder):
    """The embedded default's recorder, holding each save's transaction open for a random
    while between insert and commit, and rolling back ``rollback_share`` of them."""

    max_delay_seconds = 0.01
    rollback_share = 0.2

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        _hold_open(time.sleep, self.max_delay_seconds, self.rollback_share)
        return ids


class UnlockedSlowCommitRecorder(SlowCommitRecorder):
    """The same without the table lock: what the gap test must catch."""

    lock_table = False


def recorder_topic(cls: type[ApplicationRecorder]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
