"""Helpers for the write-path tests: a tiny aggregate and applications on each recorder."""

from __future__ import annotations

import random
from typing import Any

from eventsourcing.domain import Aggregate, event
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


class SlowCommitRecorder(GroupCommitRecorder):
    """Holds each batch's transaction open for a random while between insert and commit."""

    max_delay_seconds = 0.01

    def _execute_batch(
        self, conn: Connection[DictRow], columns: tuple[list[Any], ...]
    ) -> list[int]:
        with conn.transaction():
            ids = super()._execute_batch(conn, columns)
            conn.execute("SELECT pg_sleep(%s)", (random.uniform(0, self.max_delay_seconds),))
        return ids


class UnlockedSlowCommitRecorder(SlowCommitRecorder):
    """The same without the table lock: what the gap test must catch."""

    lock_table = False


def recorder_topic(cls: type[GroupCommitRecorder]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"
