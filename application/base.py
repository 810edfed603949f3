"""What every Tiffin application shares: codecs, typed lookups and conflict handling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    NotificationLog,
    ProcessingEvent,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Tracking, Transcoder
from eventsourcing.system import NotificationLogReader, ProcessApplication

from application.codecs import EventTranscoder, register_value_types
from application.errors import ConcurrentChange, NotFound
from application.results import Changed
from domain.errors import StateConflict
from domain.topics import event_topic
from domain.values import Cause, Role

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
log = logging.getLogger(__name__)
_saga_batch = threading.local()  # .changed: the saga batch this thread is in, its aggregates


class TiffinApplication(Application[UUID]):
    """Base for the bounded contexts' applications."""

    def construct_transcoder(self) -> Transcoder:
        transcoder = EventTranscoder()  # the library's JSON, read faster
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_types(transcoder)

    def load(self, kind: type[A], aggregate_id: UUID, version: int | None = None) -> A:
        """The aggregate of this kind with this id (as it was at ``version``, if given); within
        a saga batch, as the batch's reactions so far have left it."""
        batch: dict[UUID, Aggregate] | None = getattr(_saga_batch, "changed", None)
        if batch is not None and version is None and aggregate_id in batch:
            batched = batch[aggregate_id]
            if not isinstance(batched, kind):
                raise NotFound(kind.__name__.lower(), aggregate_id)
            return batched
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(kind.__name__.lower(), aggregate_id) from None
        if not isinstance(aggregate, kind):
            raise NotFound(kind.__name__.lower(), aggregate_id)
        return aggregate

    def commit(self, *aggregates: Aggregate | None) -> int | None:
        """Saves the aggregates' new events atomically; returns the last notification id."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            ids = ", ".join(str(a.id) for a in aggregates if a is not None)
            raise ConcurrentChange(f"{ids} changed concurrently; reload and retry") from None
        return recordings[-1].notification.id if recordings else None

    def change(self, kind: type[A], aggregate_id: UUID, command: Callable[[A], T]) -> Changed[A]:
        """Loads an aggregate, runs a command on it and saves what the command decided."""
        aggregate = self.load(kind, aggregate_id)
        command(aggregate)
        return Changed(aggregate, self.commit(aggregate))

    def history(self, aggregate_id: UUID) -> list[Any]:
        """Every stored event of one aggregate, oldest first."""
        return list(self.events.get(aggregate_id))


Reaction = Callable[[Any], Iterable[Aggregate | None]]


SAGA_ACTOR = "order-saga"


Observe = Callable[[str, Any], AbstractContextManager[None]]  # (component, event) -> a span


def unobserved(component: str, event: Any) -> AbstractContextManager[None]:
    return nullcontext()


class TiffinProcess(TiffinApplication, ProcessApplication[UUID]):
    """A bounded context that also reacts to the events of the contexts it follows.

    Each reaction gets one upstream event and returns the aggregates it changed; their new
    events are recorded together with the upstream event's position, in one transaction, so
    every upstream event is processed exactly once, even across crashes. A reaction refused
    by the domain's state rules (say, a payment capture for an order cancelled meanwhile) has
    nothing to do: the event is recorded as processed and the refusal logged.
    """

    log_section_size = 100
    pull_section_size = 100
    observe: Observe = staticmethod(unobserved)  # a span per reaction, when tracing is on

    def follow(self, name: str, log: NotificationLog) -> None:
        """Follows another Tiffin application's log (all of them share codecs and cipher),
        reading only the events this context reacts to."""
        self.topics = [event_topic(qualname) for qualname in self.reactions()]
        self.readers[name] = NotificationLogReader(log, section_size=self.pull_section_size)
        self.mappers[name] = self.mapper

    def process_backlog(self, leader_name: str) -> int:
        """Processes the leader's events not processed yet; returns how many positions of
        its log that moved this context on."""
        before = self.recorder.max_tracking_id(leader_name) or 0
        self.pull_and_process(leader_name, start=before)
        return (self.recorder.max_tracking_id(leader_name) or 0) - before

    def pull_and_process(
        self, leader_name: str, start: int | None = None, stop: int | None = None
    ) -> None:
        """Processes each section of the leader's new events as one batch: every reaction's
        new events and the last event's position in one transaction, so a busy saga commits
        once per section, not once per event. Exactly once still: the batch is recorded
        whole or not at all, and the next pass starts after the last position recorded."""
        if start is None:
            start = self.recorder.max_tracking_id(leader_name)
        for notifications in self.pull_notifications(
            leader_name, start=start, stop=stop, inclusive_of_start=False
        ):
            received = self.filter_received_notifications(notifications)
            jobs = self.convert_notifications(leader_name, received)
            if len(jobs) == 1:
                self.process_event(*jobs[0])
            elif jobs:
                self._process_batch(jobs)

    def _process_batch(self, jobs: Sequence[tuple[Any, Tracking]]) -> None:
        """Reacts to every event of the batch, each seeing what those before it changed. A
        refusal leaves an aggregate half-changed, maybe: then nothing of the batch is kept
        and its events are processed one at a time, each in its own transaction, as before."""
        with self.processing_lock:
            processing: ProcessingEvent[UUID] = ProcessingEvent(tracking=jobs[-1][1])
            if self._reacted_to_all(jobs, processing):
                recordings = self._record(processing)
                self._take_snapshots(processing)
                self._notify(recordings)
                return
        for domain_event, tracking in jobs:
            self.process_event(domain_event, tracking)

    def _reacted_to_all(
        self, jobs: Sequence[tuple[Any, Tracking]], processing: ProcessingEvent[UUID]
    ) -> bool:
        """Collects every reaction's changes in ``processing``; False at the first refusal."""
        batch: dict[UUID, Aggregate] = {}
        _saga_batch.changed = batch
        try:
            for domain_event, _tracking in jobs:
                changed = self._reaction_to(domain_event)
                if changed is None:
                    return False
                processing.collect_events(*changed)
                batch.update((a.id, a) for a in changed if a is not None)
            return True
        finally:
            _saga_batch.changed = None

    def reactions(self) -> Mapping[str, Reaction]:
        """The upstream events this context reacts to, by qualified name (``Order.Placed``)."""
        return {}

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        processing_event.collect_events(*(self._reaction_to(domain_event) or ()))

    def _reaction_to(self, domain_event: Any) -> list[Aggregate | None] | None:
        """The aggregates the reaction to this event changed; None if the domain refused it."""
        reaction = self.reactions().get(type(domain_event).__qualname__)
        if reaction is None:
            return []
        try:
            with self.observe(self.name.lower(), domain_event):
                return list(reaction(domain_event))
        except StateConflict as refusal:
            log.info(
                "%s: no reaction to %s: %s", self.name, type(domain_event).__qualname__, refusal
            )
            return None

    def lookup(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate, or None when there is none (yet)."""
        try:
            return self.load(kind, aggregate_id)
        except NotFound:
            return None


def saga_cause(upstream: Any) -> Cause:
    """The saga acts for the platform, in the correlation of the event that prompted it."""
    return Cause(SAGA_ACTOR, Role.SYSTEM, upstream.cause.correlation_id)
