"""(d) Replay: every stored event read back through the notification log into aggregates."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from bench.event_store import TIFFIN_TOPIC, bench_app

PAGE = 5000


@dataclass(frozen=True)
class ReplayResult:
    events: int
    aggregates: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def measure_replay(database_url: str, seconds: float) -> ReplayResult:
    """Reads pages of notifications, decodes each into its event, folds events into aggregates."""
    with bench_app(database_url, TIFFIN_TOPIC, 1) as app:
        aggregates: dict[UUID, Any] = {}
        events, last = 0, 0
        began = time.perf_counter()
        deadline = began + seconds
        while time.perf_counter() < deadline:
            page = app.recorder.select_notifications(start=last + 1, limit=PAGE)
            if not page:
                break
            for notification in page:
                domain_event: Any = app.mapper.to_domain_event(notification)
                aggregates[domain_event.originator_id] = domain_event.mutate(
                    aggregates.get(domain_event.originator_id)
                )
            events += len(page)
            last = page[-1].id
        return ReplayResult(events, len(aggregates), time.perf_counter() - began)
