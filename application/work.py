"""Scheduled work driven by events: the saga's deadlines, the outbox of gateway calls, push.

A work queue's events come in through a projector (``projections/projector.py``) whose
projection turns them into changes to a table of work items (schedule an item at a time, or
cancel it), recorded with the position reached in the same transaction: each event changes the
table exactly once, even across crashes. The dispatcher then runs the items that are due, each
on its own: one
that fails is retried later with exponential backoff, and after ``max_attempts`` failures it
is parked, kept with its last error, until someone retries it. So a failing item never holds
up the others, and every item runs at least once (its handler must bear repeats).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)
SCHEDULED, PARKED = "scheduled", "parked"


@dataclass(frozen=True)
class WorkItem:
    queue: str
    key: str
    due_at: float
    payload: dict[str, Any]
    attempts: int = 0
    status: str = SCHEDULED
    last_error: str = ""
    version: int = 1


@dataclass(frozen=True)
class Schedule:
    key: str
    due_at: float
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancel:
    key: str


Change = Schedule | Cancel


@dataclass(frozen=True)
class Done:
    """The item did what it was for (or found nothing left to do): it is removed."""


@dataclass(frozen=True)
class Later:
    """Nothing could be done yet, and that is no failure: try again in ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Park:
    """Retrying will not help: keep the item aside, with the reason, for a person to look at."""

    reason: str


@dataclass(frozen=True)
class Replace:
    """The item is done, and these items take its place: both in one transaction, so a crash
    leaves either the item or its replacements, never both and never neither."""

    changes: Sequence[Change]


Outcome = Done | Later | Park | Replace


class TryLater(Exception):
    """A failed attempt (counted like any other) whose destination said when to come back:
    the next one is no sooner than ``retry_after`` seconds, however short the backoff."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkStore(Protocol):
    def record(self, run: Any, queue: str, changes: Sequence[Change]) -> None:
        """Schedules and cancels items through ``run``, in the caller's transaction."""
        ...

    def claim(self, queue: str, now: float, limit: int, lease_until: float) -> list[WorkItem]:
        """Takes scheduled items due at ``now``: until ``lease_until`` no other process gets
        them (an item whose run was cut short by a crash is due again then)."""
        ...

    def finish(self, item: WorkItem) -> None:
        """Removes the item, unless it was rescheduled since it was read."""
        ...

    def postpone(self, item: WorkItem, due_at: float, error: str | None, park: bool) -> None:
        """Moves the item to ``due_at`` (counting a failed attempt if ``error``), or parks it;
        unless it was rescheduled since it was read."""
        ...

    def replace(self, item: WorkItem, changes: Sequence[Change]) -> None:
        """Removes the item and records ``changes`` in its queue, in one transaction; nothing,
        if the item was rescheduled since it was read."""
        ...

    def items(self, queue: str, status: str | None = None) -> list[WorkItem]: ...

    def retry(self, queue: str, key: str, now: float) -> bool:
        """Puts a parked item back in line, due now; False if no such parked item."""
        ...


EventChanges = Callable[[Any], Sequence[Change]]
Handler = Callable[[WorkItem], Outcome]


@dataclass
class WorkQueue:
    """One queue: its intake of events (a projector) and how its items are carried out."""

    name: str
    intake: Callable[[], int]
    handle: Handler
    store: WorkStore
    clock: Callable[[], float] = time.time
    max_attempts: int = 8
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    batch: int = 100
    lease_seconds: float = 60.0  # a batch's calls end well within it

    def run_once(self) -> int:
        """Takes in new events, then runs what is due; returns how much was done."""
        return self.intake() + self.dispatch()

    def dispatch(self) -> int:
        now = self.clock()
        items = self.store.claim(self.name, now, self.batch, now + self.lease_seconds)
        for item in items:
            self._run(item, now)
        return len(items)

    def _run(self, item: WorkItem, now: float) -> None:
        try:
            outcome = self.handle(item)
        except Exception as error:  # any failure of one item is retried, and never spreads
            attempts = item.attempts + 1
            park = attempts >= self.max_attempts
            backoff = min(self.max_backoff_seconds, self.first_backoff_seconds * 2**item.attempts)
            if isinstance(error, TryLater):
                backoff = max(backoff, error.retry_after)
            log.warning(
                "%s %s: attempt %d failed%s: %r",
                self.name,
                item.key,
                attempts,
                ", parked" if park else f", next in {backoff:g}s",
                error,
            )
            self.store.postpone(item, now + backoff, f"{type(error).__name__}: {error}", park)
            return
        match outcome:
            case Done():
                self.store.finish(item)
            case Later(seconds):
                self.store.postpone(item, now + seconds, None, park=False)
            case Park(reason):
                log.warning("%s %s: parked: %s", self.name, item.key, reason)
                self.store.postpone(item, now, reason, park=True)
            case Replace(changes):
                self.store.replace(item, changes)
