"""Rebuilding a view from position 0 while the live one keeps serving.

The rebuild applies every event into a shadow view (shadow tables, or a new Redis keyspace),
then switches: the shadow, with its positions, becomes the live view in one atomic step. A live
projector running meanwhile (a worker) finds its position moved and carries on from the
shadow's; the rebuild then catches the new view up itself, which is safe beside a worker since
every write is guarded by the stored position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.application import Application

from projections.personal import IN_PLAIN, Personal
from projections.projector import Projection, Projector, ViewWriter


class Rebuildable(ViewWriter, Protocol):
    @property
    def rebuild_batch(self) -> int:
        """Events per batch when rebuilding (nobody waits on a shadow's freshness)."""
        ...

    def shadow(self) -> ViewWriter:
        """An empty shadow view for a rebuild (one left by an unfinished rebuild is dropped)."""
        ...

    def switch(self, shadow: Any) -> None:
        """The shadow, with its positions and parked events, becomes the live view atomically."""
        ...


@dataclass(frozen=True)
class Rebuilt:
    events: int  # applied from position 0 before the switch
    seconds: float
    parked: int


Progress = Callable[[int, int], None]  # (positions reached, positions to reach), summed over logs


def rebuild(
    projection: Projection,
    leaders: Sequence[Application[Any]],
    live: Rebuildable,
    progress: Progress | None = None,
    personal: Personal = IN_PLAIN,
) -> Rebuilt:
    started = time.perf_counter()
    shadow = live.shadow()
    builder = Projector(
        projection, leaders, shadow, read_limit=live.rebuild_batch, personal=personal
    )
    heads = builder.heads()
    reached = dict.fromkeys(heads, 0)

    def batch_done(leader: str, position: int) -> None:
        reached[leader] = min(position, heads[leader])
        if progress is not None:
            progress(sum(reached.values()), sum(heads.values()))

    builder.progress = batch_done
    events = builder.run_once(up_to=heads)
    events += builder.run_once(up_to=builder.heads())  # what arrived meanwhile, a little
    parked = len(builder.parked())
    live.switch(shadow)
    seconds = time.perf_counter() - started
    current = Projector(projection, leaders, live, personal=personal)
    current.run_once(up_to=current.heads())  # what arrived since (a worker may do it too)
    return Rebuilt(events, seconds, parked)
