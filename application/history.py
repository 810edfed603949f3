"""An order's history for auditors: its events, its payment's and its delivery's, in order."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from application.base import TiffinApplication
from domain.delivery import delivery_id_for
from domain.payment import payment_id_for

ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


@dataclass(frozen=True)
class HistoryEntry:
    stream: str
    aggregate_id: UUID
    version: int
    type: str
    at: datetime
    actor_id: str
    actor_role: str
    correlation_id: str
    data: dict[str, Any]


def _entry(stream: str, event: Any) -> HistoryEntry:
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
    )


def order_history(
    ordering: TiffinApplication,
    payments: TiffinApplication,
    deliveries: TiffinApplication,
    order_id: UUID,
) -> list[HistoryEntry]:
    """Every event of the order, its payment and its delivery, ordered by time."""
    streams = (
        ("order", ordering, order_id),
        ("payment", payments, payment_id_for(order_id)),
        ("delivery", deliveries, delivery_id_for(order_id)),
    )
    entries = [
        _entry(stream, event)
        for stream, app, aggregate_id in streams
        for event in app.history(aggregate_id)
    ]
    return sorted(entries, key=lambda e: (e.at, e.stream, e.version))
