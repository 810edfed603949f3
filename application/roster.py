"""Which couriers are free: an index of the couriers' shifts and loads, kept from their events.

The Deliveries context keeps it in memory and catches it up from its own notification log
before each assignment, so it sees shifts started or ended and deliveries finished by any
process. It only narrows the search: the courier aggregate itself (optimistic concurrency and
its one-delivery rule) decides whether an assignment stands.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import get_topic

from application.locations import Candidate
from domain.courier import Courier

COURIER_TOPICS = [
    get_topic(event_class)
    for event_class in (
        Courier.ShiftStarted,  # type: ignore[attr-defined]
        Courier.ShiftEnded,  # type: ignore[attr-defined]
        Courier.DeliveryTaken,  # type: ignore[attr-defined]
        Courier.DeliveryReleased,  # type: ignore[attr-defined]
    )
]
READ_LIMIT = 1000


@dataclass
class _Load:
    on_shift: bool = False
    busy: bool = False
    idle_since: datetime | None = None


class CourierRoster:
    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any]) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.position = 0
        self._couriers: dict[str, _Load] = {}
        self._lock = threading.Lock()

    def available(self) -> list[Candidate]:
        """Couriers on shift and carrying nothing, as of the latest recorded events."""
        with self._lock:
            self._catch_up()
            return [
                Candidate(courier_id, load.idle_since)
                for courier_id, load in self._couriers.items()
                if load.on_shift and not load.busy and load.idle_since is not None
            ]

    def _catch_up(self) -> None:
        while True:
            notifications = self.recorder.select_notifications(
                start=self.position + 1, limit=READ_LIMIT, topics=COURIER_TOPICS
            )
            for notification in notifications:
                self._apply(self.mapper.to_domain_event(notification))
                self.position = notification.id
            if len(notifications) < READ_LIMIT:
                return

    def _apply(self, event: Any) -> None:
        load = self._couriers.setdefault(str(event.originator_id), _Load())
        kind = type(event).__name__
        if kind == "ShiftStarted":
            load.on_shift, load.idle_since = True, event.timestamp
        elif kind == "ShiftEnded":
            load.on_shift = False
        elif kind == "DeliveryTaken":
            load.busy = True
        else:
            load.busy, load.idle_since = False, event.timestamp
