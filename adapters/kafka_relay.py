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
from dataclasses import dataclass
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
from projections.projector import Apply, Changes, Parked, PositionMoved, Projection
from projections.sql_views import SqlViews
from projections.views import SqlDatabase

NAME = "kafka-relay"


class Acknowledgement(Protocol):
    def wait(self) -> None:
        """Returns once the cluster has acknowledged every event of the batch."""
        ...


class Publisher(Protocol):
    transient: tuple[type[BaseException], ...]

    def publish(self, events: Sequence[IntegrationEvent]) -> None:
        """Returns once the cluster has acknowledged every event."""
        ...

    def submit(self, events: Sequence[IntegrationEvent]) -> Acknowledgement:
        """Hands the events over and returns at once."""
        ...


class Resend(PositionMoved):
    """A message of the batch sent before this one was refused: nothing of either is stored,
    so the projector reads again from the stored position, and the writer then sends a batch
    at a time, so the refused message is found in its own batch and parked."""


@dataclass(frozen=True)
class _InFlight:
    leader: str
    after: int
    up_to: int
    acknowledgement: Acknowledgement


def relay_projection(contracts: Sequence[Contract] = CONTRACTS) -> Projection:
    """The relay's appliers: each public domain event becomes its integration event (one per
    version published)."""

    def appender(domain_event: str, versions: Sequence[Contract]) -> Apply:
        log = LOG_OF_AGGREGATE[domain_event.split(".")[0]]
        return lambda batch, event: batch.extend(
            [integration_event(log, contract, event) for contract in versions]
        )

    published = contracts_by_event(contracts)
    return Projection(NAME, (), {name: appender(name, c) for name, c in published.items()})


class RelayWriter:
    """Publishes a batch, then moves the log's position (a ``ViewWriter``), one batch ahead:
    a batch is handed to the producer, then the batch before it is waited for and its position
    stored, so the next batch is read and decoded while the cluster acknowledges this one.
    ``flush`` (the projector's, at the end of each pass) waits for the last. A position is
    stored only once its batch is acknowledged, in log order."""

    rebuild_batch = 500

    def __init__(self, database: SqlDatabase, projection: Projection, publisher: Publisher) -> None:
        # Positions are committed without waiting for the disk: a database crash may take the
        # last moves back, which publishes those batches again, with the same ids.
        self.positions = SqlViews(database, projection, durable=False)
        self.publisher = publisher
        self.transient = (*SqlViews.transient, *publisher.transient)
        self._in_flight: _InFlight | None = None
        self._one_at_a_time = False  # after a refusal, until the end of the pass

    def position(self, leader: str) -> int:
        """The stored position: what the cluster has acknowledged (within a pass the
        projector follows the batch on its way from the ``up_to`` it wrote)."""
        return self.positions.position(leader)

    def write(self, leader: str, after: int, up_to: int, changes: Changes) -> None:
        events = _events(changes)
        if self._one_at_a_time:
            self._settle()
            self.publisher.publish(events)  # a refusal now is this batch's own
            self._store(leader, after, up_to)
            return
        acknowledgement = self.publisher.submit(events)
        self._settle()  # if the batch before fails, this one is sent again after it
        self._in_flight = _InFlight(leader, after, up_to, acknowledgement)

    def flush(self) -> None:
        """Waits for the batch on its way and stores its position (the end of a pass: the
        next pass sends ahead again)."""
        self._settle()
        self._one_at_a_time = False

    def _settle(self) -> None:
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        try:
            in_flight.acknowledgement.wait()
        except self.publisher.transient:
            raise
        except Exception as error:
            self._one_at_a_time = True
            raise Resend(
                f"{in_flight.leader}: a message after position {in_flight.after} was refused"
                f" ({error!r}); sending again a batch at a time"
            ) from error
        self._store(in_flight.leader, in_flight.after, in_flight.up_to)

    def _store(self, leader: str, after: int, up_to: int) -> None:
        self.positions.write(leader, after, up_to, _nothing)

    def park(self, leader: str, after: int, notification: Notification, error: str) -> None:
        self._settle()
        self.positions.park(leader, after, notification, error)

    def parked(self) -> list[Parked]:
        return self.positions.parked()

    def unpark(self, parked: Parked, changes: Changes) -> None:
        self._settle()
        self.publisher.publish(_events(changes))
        self.positions.unpark(parked, _nothing)


def _events(changes: Changes) -> list[IntegrationEvent]:
    batch: list[IntegrationEvent] = []
    changes(batch)
    return batch


def _nothing(_target: Any) -> None:
    """The SQL side of a batch: only the position moves."""
