"""SQL views (SQLite or PostgreSQL): a projection's tables and its positions, written together.

Each write runs in one transaction that first moves the projection's position row from the
position the batch was read after (a guarded UPDATE: it also locks the row in PostgreSQL, so
concurrent projectors queue up and all but the first find it moved), then applies the events.

A rebuild writes into shadow tables (each table's name with ``__rebuild``, the projection's
statements rewritten to them) under a position of its own, while the live tables keep serving;
``switch`` then swaps the tables and the positions in one transaction.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import lru_cache

import psycopg
from eventsourcing.persistence import Notification

from projections.projector import Changes, Parked, PositionMoved, Projection
from projections.sql_batch import BatchedRun
from projections.views import Run, SqlDatabase

SHADOW = "__rebuild"
RETIRED = "__retired"
TRACKING_TABLES = (
    "CREATE TABLE IF NOT EXISTS tiffin_projection_positions ("
    " projection TEXT NOT NULL, leader TEXT NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (projection, leader))",
    "CREATE TABLE IF NOT EXISTS tiffin_projection_dead_letters ("
    " projection TEXT NOT NULL, leader TEXT NOT NULL, position BIGINT NOT NULL,"
    " topic TEXT NOT NULL, error TEXT NOT NULL, parked_at DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (projection, leader, position))",
)
FIRST_POSITION = (
    "INSERT INTO tiffin_projection_positions (projection, leader, position) VALUES (?, ?, ?)"
    " ON CONFLICT (projection, leader) DO NOTHING"
)
MOVE_POSITION = (
    "UPDATE tiffin_projection_positions SET position = ?"
    " WHERE projection = ? AND leader = ? AND position = ?"
)
TABLE_NAME = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)


def table_names(projection: Projection) -> list[str]:
    return [match.group(1) for sql in projection.tables for match in TABLE_NAME.finditer(sql)]


class SqlViews:
    """The writer of one projection's SQL view (``shadow``: its rebuild's tables)."""

    transient: tuple[type[BaseException], ...] = (
        psycopg.OperationalError,
        sqlite3.OperationalError,
    )

    rebuild_batch = 5_000

    def __init__(
        self,
        database: SqlDatabase,
        projection: Projection,
        shadow: bool = False,
        durable: bool = True,
    ) -> None:
        self.database = database
        self.durable = durable  # False: a database crash may take back the last writes whole
        self.projection = projection
        self.name = projection.name + (SHADOW if shadow else "")
        self._rename = _renamer(table_names(projection), SHADOW) if shadow else None

    def position(self, leader: str) -> int:
        with self.database.transaction() as run:
            rows = run(
                "SELECT position FROM tiffin_projection_positions"
                " WHERE projection = ? AND leader = ?",
                (self.name, leader),
            ).fetchall()
        return int(rows[0][0]) if rows else 0

    def write(self, leader: str, after: int, up_to: int, changes: Changes) -> None:
        with self.database.transaction(durable=self.durable) as run:
            self._move(run, leader, after, up_to)
            batch = BatchedRun(self._target(run), self.database.rows_as_json)
            changes(batch)
            batch.flush()

    def _move(self, run: Run, leader: str, after: int, up_to: int) -> None:
        if after == 0 and run(FIRST_POSITION, (self.name, leader, up_to)).rowcount == 1:
            return
        if run(MOVE_POSITION, (up_to, self.name, leader, after)).rowcount != 1:
            raise PositionMoved(f"{self.name}: {leader} is no longer at {after}")

    def _target(self, run: Run) -> Run:
        rename = self._rename
        if rename is None:
            return run
        return lambda sql, params: run(rename(sql), params)

    def park(self, leader: str, after: int, notification: Notification, error: str) -> None:
        with self.database.transaction() as run:
            self._move(run, leader, after, notification.id)
            run(
                "INSERT INTO tiffin_projection_dead_letters"
                " (projection, leader, position, topic, error, parked_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (self.name, leader, notification.id, notification.topic, error, time.time()),
            )

    def parked(self) -> list[Parked]:
        with self.database.transaction() as run:
            rows = run(
                "SELECT leader, position, topic, error FROM tiffin_projection_dead_letters"
                " WHERE projection = ? ORDER BY leader, position",
                (self.name,),
            ).fetchall()
        return [
            Parked(leader, int(position), topic, error) for leader, position, topic, error in rows
        ]

    def unpark(self, parked: Parked, changes: Changes) -> None:
        with self.database.transaction() as run:
            changes(self._target(run))
            run(
                "DELETE FROM tiffin_projection_dead_letters"
                " WHERE projection = ? AND leader = ? AND position = ?",
                (self.name, parked.leader, parked.position),
            )

    # rebuilding

    def shadow(self) -> SqlViews:
        """Empty shadow tables for a rebuild (any left by an earlier, unfinished one dropped)."""
        shadow = SqlViews(self.database, self.projection, shadow=True)
        with self.database.transaction() as run:
            for table in table_names(self.projection):
                run(f"DROP TABLE IF EXISTS {table}{SHADOW}", ())
            for sql in self.projection.tables:
                shadow._target(run)(sql, ())
            _forget(run, shadow.name)
        return shadow

    def switch(self, shadow: SqlViews) -> None:
        """The shadow's tables, positions and parked events become the live ones, atomically.
        Live writers take the position rows first, so taking them first here means no live
        write interleaves; a live projector then finds its position moved and reads on from
        the shadow's."""
        with self.database.transaction() as run:
            run(
                "UPDATE tiffin_projection_positions SET position = position WHERE projection = ?",
                (self.name,),
            )
            for table in table_names(self.projection):
                run(f"ALTER TABLE {table} RENAME TO {table}{RETIRED}", ())
                run(f"ALTER TABLE {table}{SHADOW} RENAME TO {table}", ())
                run(f"DROP TABLE {table}{RETIRED}", ())
            _forget(run, self.name)
            for tracking in ("tiffin_projection_positions", "tiffin_projection_dead_letters"):
                run(
                    f"UPDATE {tracking} SET projection = ? WHERE projection = ?",  # noqa: S608
                    (self.name, shadow.name),
                )


def _forget(run: Run, name: str) -> None:
    for tracking in ("tiffin_projection_positions", "tiffin_projection_dead_letters"):
        run(f"DELETE FROM {tracking} WHERE projection = ?", (name,))  # noqa: S608


def _renamer(tables: Sequence[str], suffix: str) -> Callable[[str], str]:
    """Rewrites statements to use the suffixed tables (whole words only), memoised: a
    projection's statements are a handful of constant strings."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, tables)) + r")\b")

    @lru_cache(maxsize=256)
    def rename(sql: str) -> str:
        return pattern.sub(lambda match: match.group(1) + suffix, sql)

    return rename
