"""Read-your-writes for queries: ``?min_position=N`` waits until the view has taken in
position N of its log (up to the configured wait, else 503 with Retry-After); a position the
log has not written yet is a 409 at once.

Positions are notification ids of one context's log: a restaurant's or menu's position is of
the Restaurants log, an order's of Ordering, a courier's or delivery's of Deliveries, a
payment's of Payments. Each query names the view it reads and the log its positions belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application
from starlette.concurrency import run_in_threadpool

from api.problems import ApiProblem, unavailable
from projections.projector import Projector


class ViewReads:
    def __init__(self, projector_of: Callable[[str], Projector], wait_seconds: float) -> None:
        self._projector_of = projector_of
        self.wait_seconds = wait_seconds
        self._projectors: dict[str, Projector] = {}

    def projector(self, view: str) -> Projector:
        """The view's projector, read only to learn how far the view has got."""
        found = self._projectors.get(view)
        if found is None:
            found = self._projectors[view] = self._projector_of(view)
        return found

    async def wait(self, view: str, log: Application[Any], min_position: int | None) -> None:
        """Returns once ``view`` includes ``min_position`` of ``log`` (at once when None)."""
        if min_position is None or min_position <= 0:
            return
        reader = self.projector(view)
        reached = await run_in_threadpool(reader.wait_until, log, min_position, 0)
        if not reached:
            await run_in_threadpool(_written, log, min_position)
            reached = await run_in_threadpool(
                reader.wait_until, log, min_position, self.wait_seconds
            )
        if not reached:
            raise unavailable(f"the {view} view has not reached position {min_position} yet")


def _written(log: Application[Any], position: int) -> None:
    """A 409 at once for a position beyond the log's head: no write has made it (the client
    read it elsewhere, or the store was restored to an earlier point), so waiting is futile."""
    head = log.recorder.max_notification_id() or 0
    if position > head:
        raise ApiProblem(
            409, f"position {position} is beyond the head of the {log.name} log ({head})"
        )
