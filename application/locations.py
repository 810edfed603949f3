"""Where couriers are: the location-store port, and choosing the courier for a pickup.

Location pings are not events of an aggregate (ARCHITECTURE.md): they go to a location store,
Redis in server mode and an in-process map on the embedded default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.values import Location


@dataclass(frozen=True)
class CourierPosition:
    courier_id: str
    location: Location
    at: datetime


class LocationStore(Protocol):
    def record(self, position: CourierPosition) -> None:
        """Keeps a courier's latest position (an older ping than the one kept is ignored)."""
        ...

    def latest(self, courier_ids: Iterable[str]) -> dict[str, CourierPosition]:
        """The latest known position of each of these couriers that has one."""
        ...


@dataclass(frozen=True)
class Candidate:
    """An available courier (on shift, carrying nothing) and since when they have been idle."""

    courier_id: str
    idle_since: datetime


def choose_courier(
    pickup: Location, candidates: Sequence[Candidate], positions: dict[str, CourierPosition]
) -> Candidate | None:
    """The candidate nearest to the pickup by great-circle distance; of equally near ones, the
    one idle longest. Couriers with no known position are not chosen."""
    located = [c for c in candidates if c.courier_id in positions]
    if not located:
        return None
    return min(
        located,
        key=lambda c: (
            round(positions[c.courier_id].location.distance_km(pickup), 6),
            c.idle_since,
            c.courier_id,
        ),
    )
