"""Where an aggregate's events sit in its application's notification log, read from the store.

eventsourcing's ``events.get`` gives an aggregate's events without their notification ids; the
auditors' history shows them. One SELECT per aggregate, on whichever recorder the application
got: SQLite (the notification id is the events table's ``rowid``) or PostgreSQL (its
``notification_id`` column), including Tiffin's group-commit recorders, which are PostgreSQL
recorders writing to the same table.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier


class StoredEventPositions:
    """``application.history.EventPositions`` over eventsourcing's SQLite and PostgreSQL
    application (and process) recorders."""

    def positions(self, app: Application[Any], aggregate_id: UUID) -> dict[int, int]:
        """The notification id of each stored event of the aggregate, by its version (empty
        when the aggregate has no events)."""
        recorder = app.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            return _sqlite_positions(recorder, aggregate_id)
        if isinstance(recorder, PostgresApplicationRecorder):
            return _postgres_positions(recorder, aggregate_id)
        raise TypeError(f"no notification ids can be read from a {type(recorder).__name__}")


def _sqlite_positions(recorder: SQLiteApplicationRecorder, aggregate_id: UUID) -> dict[int, int]:
    statement = (
        f"SELECT originator_version, rowid FROM {recorder.events_table_name}"  # noqa: S608
        " WHERE originator_id = ?"
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, (aggregate_id.hex,))  # how the recorder stores UUID ids
        return {int(version): int(position) for version, position in cursor.fetchall()}


def _postgres_positions(
    recorder: PostgresApplicationRecorder, aggregate_id: UUID
) -> dict[int, int]:
    datastore = recorder.datastore
    statement = SQL(
        "SELECT originator_version, notification_id FROM {schema}.{table} WHERE originator_id = %s"
    ).format(schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name))
    stored_id = aggregate_id if datastore.originator_id_type == "uuid" else str(aggregate_id)
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(statement, (stored_id,), prepare=True)
        return {
            int(row["originator_version"]): int(row["notification_id"]) for row in cursor.fetchall()
        }
