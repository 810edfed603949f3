"""What every Tiffin application shares: codecs, typed lookups and conflict handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from application.codecs import register_value_types
from application.errors import ConcurrentChange, NotFound
from application.results import Changed

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


class TiffinApplication(Application[UUID]):
    """Base for the bounded contexts' applications."""

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

    def commit(self, *aggregates: Aggregate) -> int | None:
        """Saves the aggregates' new events atomically; returns the last notification id."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            ids = ", ".join(str(a.id) for a in aggregates)
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
