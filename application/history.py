"""An order's history for auditors: its events, its payment's and its delivery's, in order."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application

from application.base import TiffinApplication
from application.errors import NotFound
from domain.delivery import delivery_id_for
from domain.payment import payment_id_for

ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


class EventPositions(Protocol):
    """Where stored events sit in their application's notification log (an adapter reads it
    from the event store: ``adapters/event_positions.py``)."""

    def positions(self, app: Application[Any], aggregate_id: UUID) -> dict[int, int]:
        """The notification id of each of the aggregate's events in ``app``'s log, by the
        event's version (empty when the aggregate has no events)."""
        ...


@dataclass(frozen=True)
class HistoryEntry:
    """One event: its stream (``order``, ``payment``, ``delivery``), aggregate and version,
    type, time, who caused it and in which correlation, its own data, and its position (the
    notification id in its application's log; None when read without ``EventPositions``)."""

    stream: str
    aggregate_id: UUID
    version: int
    type: str
    at: datetime
    actor_id: str
    actor_role: str
    correlation_id: str
    data: dict[str, Any]
    position: int | None = None


def _entry(stream: str, event: Any, position: int | None) -> HistoryEntry:
    data = {
        f.name: getattr(event, f.name)
        for f in fields(event)
        if f.name not in ENVELOPE and f.name != "cause"
    }
    return HistoryEntry(
        stream=stream,
        aggregate_id=event.originator_id,
        version=event.originator_version,
        type=type(event).__name__,
        at=event.timestamp,
        actor_id=event.cause.actor_id,
        actor_role=str(event.cause.role),
        correlation_id=event.cause.correlation_id,
        data=data,
        position=position,
    )


def _stream(
    stream: str, app: TiffinApplication, aggregate_id: UUID, positions: EventPositions | None
) -> list[HistoryEntry]:
    """The aggregate's events, in the order of their positions (which is their versions')."""
    events = app.history(aggregate_id)
    position_of = positions.positions(app, aggregate_id) if positions and events else {}
    entries = [_entry(stream, e, position_of.get(e.originator_version)) for e in events]
    return sorted(entries, key=lambda e: (e.position or 0, e.version))


def order_history(
    ordering: TiffinApplication,
    payments: TiffinApplication,
    deliveries: TiffinApplication,
    order_id: UUID,
    positions: EventPositions | None = None,
) -> list[HistoryEntry]:
    """Every event of the order, its payment and its delivery: each stream's in the order of
    its positions (its versions), the streams merged by time, then stream name. With
    ``positions``, each entry carries its notification id. Raises NotFound for no such order."""
    streams = (
        ("order", ordering, order_id),
        ("payment", payments, payment_id_for(order_id)),
        ("delivery", deliveries, delivery_id_for(order_id)),
    )
    entries = [_stream(name, app, aggregate_id, positions) for name, app, aggregate_id in streams]
    if not entries[0]:
        raise NotFound("order", order_id)
    return list(heapq.merge(*entries, key=lambda e: (e.at, e.stream)))
