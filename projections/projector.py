"""Projectors: follow the applications' notification logs and keep SQL views.

A projection names its tables and, for each event it cares about, how the event changes them.
The projector applies a batch of events and records how far it has read each log in the same
transaction, so a crash at any point leaves the view as a replay up to the recorded position.
An event a projection cannot apply (a poison event) is tried ``max_attempts`` times, then
parked in ``tiffin_projection_dead_letters`` with its position and error, and the projector
carries on; a database that cannot be reached is no poison: the pass fails and is retried.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from application.base import event_topic
from projections.views import Run, SqlDatabase

log = logging.getLogger(__name__)
TRANSIENT = (psycopg.OperationalError, sqlite3.OperationalError)
READ_LIMIT = 500
TRACKING_TABLES = (
    "CREATE TABLE IF NOT EXISTS tiffin_projection_positions ("
    " projection TEXT NOT NULL, leader TEXT NOT NULL, position BIGINT NOT NULL,"
    " PRIMARY KEY (projection, leader))",
    "CREATE TABLE IF NOT EXISTS tiffin_projection_dead_letters ("
    " projection TEXT NOT NULL, leader TEXT NOT NULL, position BIGINT NOT NULL,"
    " topic TEXT NOT NULL, error TEXT NOT NULL, parked_at DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (projection, leader, position))",
)
ADVANCE = (
    "INSERT INTO tiffin_projection_positions (projection, leader, position) VALUES (?, ?, ?)"
    " ON CONFLICT (projection, leader) DO UPDATE SET position = excluded.position"
    " WHERE tiffin_projection_positions.position < excluded.position"
)

Apply = Callable[[Run, Any], None]


@dataclass(frozen=True)
class Projection:
    name: str
    tables: Sequence[str]  # CREATE TABLE IF NOT EXISTS … statements
    appliers: Mapping[str, Apply]  # by event qualname, e.g. "Order.Placed"


@dataclass(frozen=True)
class Lag:
    """How far a projection is behind one application's log."""

    leader: str
    position: int  # the last notification id applied (or passed over: other topics, parked)
    head: int  # the log's last notification id
    events: int  # events of the projection's topics not applied yet (counted up to LAG_COUNT_MAX)
    seconds: float  # age of the oldest of them (0 when none)


LAG_COUNT_MAX = 10_000


@dataclass(frozen=True)
class Parked:
    leader: str
    position: int
    topic: str
    error: str


class Projector:
    def __init__(
        self,
        projection: Projection,
        leaders: Sequence[Application[Any]],
        database: SqlDatabase,
        max_attempts: int = 3,
    ) -> None:
        self.projection = projection
        self.leaders = list(leaders)
        self.database = database
        self.max_attempts = max_attempts
        self.topics = [event_topic(name) for name in projection.appliers]

    @property
    def name(self) -> str:
        return self.projection.name

    def position(self, leader: str) -> int:
        with self.database.transaction() as run:
            rows = run(
                "SELECT position FROM tiffin_projection_positions"
                " WHERE projection = ? AND leader = ?",
                (self.name, leader),
            ).fetchall()
        return int(rows[0][0]) if rows else 0

    def run_once(self) -> int:
        """Applies every new event of every leader; returns how many."""
        return sum(self._catch_up(leader) for leader in self.leaders)

    def _catch_up(self, leader: Application[Any]) -> int:
        applied = 0
        while True:
            notifications = leader.recorder.select_notifications(
                start=self.position(leader.name),
                limit=READ_LIMIT,
                topics=self.topics,
                inclusive_of_start=False,
            )
            if not notifications:
                return applied
            try:
                self._apply(leader, notifications)
            except TRANSIENT:
                raise
            except Exception:  # a poison event among them: one at a time, to find it
                for notification in notifications:
                    self._apply_or_park(leader, notification)
            applied += len(notifications)

    def _apply(self, leader: Application[Any], notifications: Sequence[Notification]) -> None:
        with self.database.transaction() as run:
            for notification in notifications:
                event = leader.mapper.to_domain_event(notification)
                self.projection.appliers[type(event).__qualname__](run, event)
            run(ADVANCE, (self.name, leader.name, notifications[-1].id))

    def _apply_or_park(self, leader: Application[Any], notification: Notification) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                self._apply(leader, [notification])
                return
            except TRANSIENT:
                raise
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"
                log.warning(
                    "%s: %s %d failed (attempt %d): %s",
                    self.name,
                    leader.name,
                    notification.id,
                    attempt,
                    failure,
                )
        with self.database.transaction() as run:
            run(
                "INSERT INTO tiffin_projection_dead_letters"
                " (projection, leader, position, topic, error, parked_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (self.name, leader.name, notification.id, notification.topic, failure, time.time()),
            )
            run(ADVANCE, (self.name, leader.name, notification.id))

    def has_reached(self, leader: Application[Any], position: int) -> bool:
        """Whether the view includes everything of the leader's log up to ``position`` (events
        of other topics count as included: the view has nothing to take from them)."""
        applied = self.position(leader.name)
        if applied >= position:
            return True
        pending = leader.recorder.select_notifications(
            start=applied, stop=position, limit=1, topics=self.topics, inclusive_of_start=False
        )
        return not pending

    def wait_until(
        self, leader: Application[Any], position: int, timeout: float, poll: float = 0.01
    ) -> bool:
        """Read-your-writes: waits until the view includes ``position`` of the leader's log;
        False if it has not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.has_reached(leader, position):
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def lag(self, now: float) -> list[Lag]:
        lags = []
        for leader in self.leaders:
            position = self.position(leader.name)
            waiting = leader.recorder.select_notifications(
                start=position, limit=LAG_COUNT_MAX, topics=self.topics, inclusive_of_start=False
            )
            seconds = 0.0
            if waiting:
                oldest: Any = leader.mapper.to_domain_event(waiting[0])
                seconds = max(0.0, now - oldest.timestamp.timestamp())
            head = leader.recorder.max_notification_id() or 0
            lags.append(Lag(leader.name, position, head, len(waiting), seconds))
        return lags

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

    def retry_parked(self) -> int:
        """Applies the parked events again; those that now apply leave the dead letters."""
        leaders = {leader.name: leader for leader in self.leaders}
        retried = 0
        for parked in self.parked():
            leader = leaders[parked.leader]
            [notification] = leader.recorder.select_notifications(
                start=parked.position, limit=1, stop=parked.position
            )
            event = leader.mapper.to_domain_event(notification)
            try:
                with self.database.transaction() as run:
                    self.projection.appliers[type(event).__qualname__](run, event)
                    run(
                        "DELETE FROM tiffin_projection_dead_letters"
                        " WHERE projection = ? AND leader = ? AND position = ?",
                        (self.name, parked.leader, parked.position),
                    )
            except TRANSIENT:
                raise
            except Exception as error:
                log.warning("%s: parked %s still fails: %s", self.name, parked, error)
                continue
            retried += 1
        return retried
