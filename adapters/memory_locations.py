"""The embedded default's location store: a map in the process."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from application.locations import CourierPosition


class InProcessLocationStore:
    def __init__(self) -> None:
        self._latest: dict[str, CourierPosition] = {}
        self._lock = threading.Lock()

    def record(self, position: CourierPosition) -> None:
        with self._lock:
            kept = self._latest.get(position.courier_id)
            if kept is None or kept.at <= position.at:
                self._latest[position.courier_id] = position

    def latest(self, courier_ids: Iterable[str]) -> dict[str, CourierPosition]:
        with self._lock:
            return {i: self._latest[i] for i in courier_ids if i in self._latest}
