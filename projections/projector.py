"""Projectors: follow the applications' notification logs and keep views.

A projection names, for each event it cares about, how the event changes its view. A projector
reads a batch of events after the view's recorded position and hands them to the view's writer,
which applies them and moves the position in one atomic step, guarded by the stored position:
if another projector (a second worker, or a rebuild's switch) moved it meanwhile, nothing is
written and the projector reads again from where the view now is. So every event changes each
view exactly once and a crash at any point leaves the view equal to a replay up to its position.

An event a projection cannot apply (a poison event) is tried ``max_attempts`` times, then parked
with its position and error and the projector carries on; a store that cannot be reached is no
poison: the pass fails and is retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from domain.topics import event_topic
from projections.metrics import EVENTS_APPLIED, EVENTS_PARKED
from projections.personal import IN_PLAIN, Personal, viewed

log = logging.getLogger(__name__)
READ_LIMIT = 500  # events per batch: one transaction (one Lua script) each
LAG_COUNT_MAX = 10_000

Apply = Callable[[Any, Any], None]  # (the view's target: an SQL ``run`` or key operations, event)
Changes = Callable[[Any], None]  # writes a batch's changes through the target it is given


@dataclass(frozen=True)
class Projection:
    name: str
    tables: Sequence[str]  # SQL views: CREATE TABLE IF NOT EXISTS … statements (else empty)
    appliers: Mapping[str, Apply]  # by event qualname, e.g. "Order.Placed"


@dataclass(frozen=True)
class Parked:
    leader: str
    position: int
    topic: str
    error: str


class PositionMoved(Exception):
    """The view's stored position is not the one the batch was read after: nothing written."""


class ViewWriter(Protocol):
    """Where a projection's view lives (SQL tables, Redis keys) and its position per log."""

    @property
    def transient(self) -> tuple[type[BaseException], ...]:
        """Errors of a store that cannot be reached, which are not poison."""
        ...

    def position(self, leader: str) -> int: ...

    def write(self, leader: str, after: int, up_to: int, changes: Changes) -> None:
        """Atomically: makes the changes and moves the position from ``after`` to ``up_to``;
        raises PositionMoved, changing nothing, if the stored position is not ``after``."""
        ...

    def park(self, leader: str, after: int, notification: Notification, error: str) -> None:
        """Records a poison event and moves the position past it (guarded like ``write``)."""
        ...

    def parked(self) -> list[Parked]: ...

    def unpark(self, parked: Parked, changes: Changes) -> None:
        """Makes a parked event's changes and forgets it, atomically."""
        ...


@runtime_checkable
class Flushing(Protocol):
    """A writer whose ``write`` may return before its batch is done (one ahead): ``flush``
    finishes it, at the end of each pass."""

    def flush(self) -> None: ...


@dataclass(frozen=True)
class Lag:
    """How far a projection is behind one application's log."""

    leader: str
    position: int  # the last notification id applied (or passed over: other topics, parked)
    head: int  # the log's last notification id
    events: int  # events of the projection's topics not applied yet (counted up to LAG_COUNT_MAX)
    seconds: float  # age of the oldest of them (0 when none)


Progress = Callable[[str, int], None]  # (leader, position reached), after each batch
Observe = Callable[[str, Any], AbstractContextManager[None]]  # (view, event) -> a span


NO_SPAN: AbstractContextManager[None] = nullcontext()  # reusable: it holds no state


def unobserved(view: str, event: Any) -> AbstractContextManager[None]:
    return NO_SPAN


class Projector:
    def __init__(
        self,
        projection: Projection,
        leaders: Sequence[Application[Any]],
        writer: ViewWriter,
        max_attempts: int = 3,
        read_limit: int = READ_LIMIT,
        personal: Personal = IN_PLAIN,
    ) -> None:
        self.projection = projection
        self.personal = personal  # how people's ids and text reach the view
        self.leaders = list(leaders)
        self.writer = writer
        self.max_attempts = max_attempts
        self.read_limit = read_limit
        self.topics = [event_topic(name) for name in projection.appliers]
        self.progress: Progress | None = None
        self.observe: Observe = unobserved  # a span per event applied, when tracing is on

    @property
    def name(self) -> str:
        return self.projection.name

    def position(self, leader: str) -> int:
        return self.writer.position(leader)

    @property
    def follows(self) -> list[str]:
        """The names of the logs it reads."""
        return [leader.name for leader in self.leaders]

    def run_logs(self, logs: Collection[str]) -> int:
        """``run_once``, reading only these of its logs (the others have not moved)."""
        return self.run_once(logs=logs)

    def run_once(
        self, up_to: Mapping[str, int] | None = None, logs: Collection[str] | None = None
    ) -> int:
        """Applies every new event of every leader (or those up to ``up_to``'s position of
        each: a bound for catching up under a constant stream of events; or of the leaders
        named in ``logs``), a batch of each in turn, so a busy log does not hold up the
        others; returns how many."""
        applied = 0
        known: dict[str, int] = {}  # positions this pass moved (or read): no need to ask again
        leaders = [each for each in self.leaders if logs is None or each.name in logs]
        try:
            while True:
                round_applied = sum(
                    self._next_batch(leader, None if up_to is None else up_to[leader.name], known)
                    for leader in leaders
                )
                applied += round_applied
                if not round_applied and self._flushed(known):
                    return applied
        except BaseException:
            self._flush_quietly()
            raise

    def _flushed(self, known: dict[str, int]) -> bool:
        """A writer that keeps a batch on its way (the Kafka relay's) finishes it; False if it
        could not store it after all (PositionMoved): then the pass reads again."""
        if isinstance(self.writer, Flushing):
            try:
                self.writer.flush()
            except PositionMoved:
                known.clear()
                return False
        return True

    def _flush_quietly(self) -> None:
        try:
            if isinstance(self.writer, Flushing):
                self.writer.flush()
        except Exception as error:  # the pass failed already: that error is the one raised
            log.warning("%s: finishing the last batch failed too: %r", self.name, error)

    def heads(self) -> dict[str, int]:
        """Each leader's last notification id now."""
        return {leader.name: leader.recorder.max_notification_id() or 0 for leader in self.leaders}

    def _next_batch(self, leader: Application[Any], stop: int | None, known: dict[str, int]) -> int:
        """Applies the leader's next batch of events after the view's position; how many.
        ``known``: the positions this pass has read or moved, by leader. Every write is
        guarded by the stored position, so one moved meanwhile (by another projector) fails
        the write (PositionMoved) and every position is read again."""
        while True:
            after = known.get(leader.name)
            if after is None:
                after = known[leader.name] = self.writer.position(leader.name)
            if stop is not None and after >= stop:
                return 0
            notifications = leader.recorder.select_notifications(
                start=after,
                limit=self.read_limit,
                stop=stop,
                topics=self.topics,
                inclusive_of_start=False,
            )
            if not notifications:
                return 0
            try:
                self._write(leader, after, notifications)
            except PositionMoved:
                known.clear()
                continue
            except self.writer.transient:
                raise
            except Exception:  # a poison event among them: one at a time, to find it
                if not self._one_at_a_time(leader, after, notifications):
                    known.clear()
                    continue
            known[leader.name] = notifications[-1].id
            EVENTS_APPLIED.labels(self.name).inc(len(notifications))
            if self.progress is not None:
                self.progress(leader.name, notifications[-1].id)
            return len(notifications)

    def _write(
        self, leader: Application[Any], after: int, notifications: Sequence[Notification]
    ) -> None:
        def changes(target: Any) -> None:
            to_domain_event, appliers = leader.mapper.to_domain_event, self.projection.appliers
            observe, name, personal = self.observe, self.name, self.personal
            for notification in notifications:
                event = to_domain_event(notification)
                with observe(name, event):
                    appliers[type(event).__qualname__](target, viewed(event, personal))

        self.writer.write(leader.name, after, notifications[-1].id, changes)

    def _one_at_a_time(
        self, leader: Application[Any], after: int, notifications: Sequence[Notification]
    ) -> bool:
        """Writes each event alone, parking those that keep failing; False if another
        projector moved the position meanwhile."""
        try:
            for notification in notifications:
                self._write_or_park(leader, after, notification)
                after = notification.id
        except PositionMoved:
            return False
        return True

    def _write_or_park(
        self, leader: Application[Any], after: int, notification: Notification
    ) -> None:
        failure = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                self._write(leader, after, [notification])
                return
            except PositionMoved:
                raise
            except self.writer.transient:
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
        self.writer.park(leader.name, after, notification, failure)
        EVENTS_PARKED.labels(self.name).inc()

    def has_reached(self, leader: Application[Any], position: int) -> bool:
        """Whether the view includes everything of the leader's log up to ``position`` (events
        of other topics count as included: the view has nothing to take from them). A position
        the log has not reached yet is not included: events may still be written up to it."""
        applied = self.position(leader.name)
        if applied >= position:
            return True
        pending = leader.recorder.select_notifications(
            start=applied, stop=position, limit=1, topics=self.topics, inclusive_of_start=False
        )
        return not pending and (leader.recorder.max_notification_id() or 0) >= position

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
        return self.writer.parked()

    def changes_of(self, event: Any) -> Changes:
        apply = self.projection.appliers[type(event).__qualname__]
        return lambda target: apply(target, event)

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
                self.writer.unpark(parked, self.changes_of(event))
            except self.writer.transient:
                raise
            except Exception as error:
                log.warning("%s: parked %s still fails: %s", self.name, parked, error)
                continue
            retried += 1
        return retried
