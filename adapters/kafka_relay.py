"""The Kafka relay: a projector whose "view" is the cluster. It follows each application's
notification log and hands each batch's integration events to the publisher; only once the
broker has acknowledged the whole batch does it move the log's published position (a row of
``tiffin_projection_positions``, in the views database: PostgreSQL in server mode). So every
event is published at least once, in log order per aggregate; a crash between the
acknowledgement and the move publishes the batch again, with the same ids.

An event whose message the cluster refuses for good is parked like a projection's poison
event (``tiffin projections status``, ``tiffin projections retry kafka-relay``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.persistence import Notification

from application.integration_events import (
    CONTRACTS,
    Contract,
    IntegrationEvent,
    contracts_by_event,
    integration_event,
)
from domain.topics import LOG_OF_AGGREGATE
from projections.projector import Apply, Changes, Parked, Projection
from projections.sql_views import SqlViews
from projections.views import SqlDatabase

NAME = "kafka-relay"


class Publisher(Protocol):
    transient: tuple[type[BaseException], ...]

    def publish(self, events: Sequence[IntegrationEvent]) -> None:
        """Returns once the cluster has acknowledged every event."""
        ...


def relay_projection(contracts: Sequence[Contract] = CONTRACTS) -> Projection:
    """The relay's appliers: each public domain event becomes its integration event (one per
    version published)."""

    def appender(domain_event: str, versions: Sequence[Contract]) -> Apply:
        log = LOG_OF_AGGREGATE[domain_event.split(".")[0]]
        return lambda batch, event: batch.extend(
            integration_event(log, contract, event) for contract in versions
        )

    published = contracts_by_event(contracts)
    return Projection(NAME, (), {name: appender(name, c) for name, c in published.items()})


class RelayWriter:
    """Publishes a batch, then moves the log's position (a ``ViewWriter``)."""

    rebuild_batch = 500

    def __init__(self, database: SqlDatabase, projection: Projection, publisher: Publisher) -> None:
        self.positions = SqlViews(database, projection)
        self.publisher = publisher
        self.transient = (*SqlViews.transient, *publisher.transient)

    def position(self, leader: str) -> int:
        return self.positions.position(leader)

    def write(self, leader: str, after: int, up_to: int, changes: Changes) -> None:
        self.publisher.publish(_events(changes))
        self.positions.write(leader, after, up_to, _nothing)

    def park(self, leader: str, after: int, notification: Notification, error: str) -> None:
        self.positions.park(leader, after, notification, error)

    def parked(self) -> list[Parked]:
        return self.positions.parked()

    def unpark(self, parked: Parked, changes: Changes) -> None:
        self.publisher.publish(_events(changes))
        self.positions.unpark(parked, _nothing)


def _events(changes: Changes) -> list[IntegrationEvent]:
    batch: list[IntegrationEvent] = []
    changes(batch)
    return batch


def _nothing(_target: Any) -> None:
    """The SQL side of a batch: only the position moves."""
