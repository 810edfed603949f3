"""What every Tiffin application shares: codecs, typed lookups and conflict handling."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
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
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoder
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
        """The aggregate of this kind with this id (as it was at ``version``, if given)."""
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
        """Processes the leader's events not processed yet; returns how many it processed."""
        before = self.recorder.max_tracking_id(leader_name) or 0
        self.pull_and_process(leader_name, start=before)
        return (self.recorder.max_tracking_id(leader_name) or 0) - before

    def reactions(self) -> Mapping[str, Reaction]:
        """The upstream events this context reacts to, by qualified name (``Order.Placed``)."""
        return {}

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        reaction = self.reactions().get(type(domain_event).__qualname__)
        if reaction is None:
            return
        try:
            with self.observe(self.name.lower(), domain_event):
                changed = list(reaction(domain_event))
        except StateConflict as refusal:
            log.info(
                "%s: no reaction to %s: %s", self.name, type(domain_event).__qualname__, refusal
            )
            return
        processing_event.collect_events(*changed)

    def lookup(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate, or None when there is none (yet)."""
        try:
            return self.load(kind, aggregate_id)
        except NotFound:
            return None


def saga_cause(upstream: Any) -> Cause:
    """The saga acts for the platform, in the correlation of the event that prompted it."""
    return Cause(SAGA_ACTOR, Role.SYSTEM, upstream.cause.correlation_id)
