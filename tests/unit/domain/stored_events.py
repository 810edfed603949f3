"""Round-trips domain events through the real storage encoding, then folds them back up.

The mapper is that of a plain ``TiffinApplication`` on the in-memory POPO backend, so it uses
the same JSON transcoder and value-type transcodings as production; only the recorder differs.
Nothing is saved: each event goes event -> stored event -> event.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper

from application.base import TiffinApplication


class CodecProbe(TiffinApplication):
    """An application built only for its mapper."""


@cache
def storage_mapper() -> Mapper[Any]:
    return CodecProbe(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def through_storage(event: Any) -> Any:
    """The event as it comes back after being encoded for storage and decoded again."""
    mapper = storage_mapper()
    return mapper.to_domain_event(mapper.to_stored_event(event))


def replay(events: Iterable[Any]) -> Aggregate | None:
    """The aggregate rebuilt from its events, each one first round-tripped through storage."""
    aggregate: Aggregate | None = None
    for event in events:
        aggregate = through_storage(event).mutate(aggregate)
    return aggregate
