"""An order as it was, for auditors: at one of its versions, at a moment in time, or both.

The order is rebuilt from its own events up to that version (``Ordering.get_order``), so it is
exactly what the platform knew then; the payment and the delivery have streams of their own
(see ``application.history``).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.errors import NotFound
from application.ordering import Ordering
from domain.errors import InvalidCommand
from domain.order import Order


class InvalidPointInTime(InvalidCommand):
    """The question names no point of the order's life: a version below 1, or a time
    without its timezone."""


class NoSuchState(NotFound):
    """The order exists but had no such state: the version is beyond its last one, or the
    time is before it was placed."""

    def __init__(self, order_id: UUID, why: str) -> None:
        super().__init__("order", order_id)
        self.args = (f"order {order_id} {why}",)


def order_state_at(
    ordering: Ordering,
    order_id: UUID,
    *,
    version: int | None = None,
    at: datetime | None = None,
) -> Order:
    """The order as it was at ``version`` (1 = as placed) and at the moment ``at`` (aware),
    each a bound: the last version at or before ``version`` whose event's timestamp is at or
    before ``at``. With neither, the order as it is now.

    Raises NotFound for no such order, NoSuchState (a NotFound) for a version beyond the
    order's last or a time before it was placed, and InvalidPointInTime for a malformed
    question."""
    if version is not None and (type(version) is not int or version < 1):
        raise InvalidPointInTime(f"versions are whole numbers from 1, got {version!r}")
    if at is not None:
        at_version = _version_at(ordering, order_id, at)
        version = at_version if version is None else min(version, at_version)
    order = ordering.get_order(order_id, version)
    if version is not None and order.version < version:
        raise NoSuchState(order_id, f"has no version {version}; its last is {order.version}")
    return order


def _version_at(ordering: Ordering, order_id: UUID, at: datetime) -> int:
    """The order's last version whose event happened at or before ``at``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidPointInTime("a time needs its timezone (e.g. 2025-01-31T18:04:05Z)")
    events = ordering.history(order_id)
    if not events:
        raise NotFound("order", order_id)
    versions = [int(e.originator_version) for e in events if e.timestamp <= at]
    if not versions:
        raise NoSuchState(order_id, f"was not placed yet at {at.isoformat()}")
    return max(versions)
