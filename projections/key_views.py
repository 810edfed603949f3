"""Key-value views (Redis in server mode, an in-process stand-in on the embedded default).

A projection's appliers record operations on a ``KeyOps`` (hash fields set or removed, sorted
set members added or removed, messages fed to live followers: ``projections/live_feed.py``).
The writer hands a batch of them, with the position it was read after, to the key store, which
applies them and moves the position as one atomic step (in Redis one Lua script) only if the
stored position is still the one the batch was read after: a redelivered or stale batch changes
nothing.

Views live in generations: ``<prefix>view:<name>:g<N>:…``, with ``…:live`` naming the one
served. A rebuild fills a new generation (publishing nothing) and switches ``live`` to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Notification

from projections.live_feed import FeedRead, channel_of
from projections.projector import Changes, Parked, PositionMoved, Projection

Key = str | tuple[str, str, str]  # a key, or (hash, field, template): the key named by a lookup
Op = list[Any]  # e.g. ["hset", key, field, value, …]; see KeyOps
LIVE = ""  # the generation argument meaning "the live one, resolved in the same atomic step"


class KeyOps:
    """What a batch of events does to a key-value view, in order. Keys are relative to the
    view's generation; ``Lookup`` keys name a key through a field of a hash kept in the view
    (e.g. the queue of the restaurant an order was placed with)."""

    def __init__(self, channel_prefix: str) -> None:
        self.channel_prefix = channel_prefix
        self.ops: list[Op] = []

    def hset(self, key: Key, fields: Mapping[str, Any]) -> None:
        flat = [part for name, value in fields.items() for part in (name, _text(value))]
        self.ops.append(["hset", _key(key), *flat])

    def hdel(self, key: Key, *fields: str) -> None:
        self.ops.append(["hdel", _key(key), *fields])

    def zadd(self, key: Key, score: float, member: str) -> None:
        self.ops.append(["zadd", _key(key), score, member])

    def zrem(self, key: Key, member: str) -> None:
        self.ops.append(["zrem", _key(key), member])

    def feed(self, topic: Key, message: Mapping[str, Any]) -> None:
        """Appends the message to the topic's feed and publishes it to its followers (only in
        the live generation: a rebuild's changes are nobody's news). A ``lookup`` topic names
        it through a field of a hash of the view (``courier:%s`` of an order's courier);
        none is fed when that field is missing or empty."""
        channels = channel_of(self.channel_prefix, "")
        self.ops.append(["feed", _key(topic), json.dumps(message), channels])


def lookup(hash_key: str, field: str, template: str) -> tuple[str, str, str]:
    """The key ``template % value``, where value is ``field`` of the view's hash ``hash_key``."""
    return (hash_key, field, template)


def _key(key: Key) -> Any:
    return key if isinstance(key, str) else list(key)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class KeyStore(Protocol):
    """Redis (``adapters/redis_views.py``) or the in-process stand-in (``memory_views.py``)."""

    transient: tuple[type[BaseException], ...]

    def apply(
        self,
        base: str,
        generation: str,
        leader: str,
        after: int,
        up_to: int,
        ops: Sequence[Op],
        parked: tuple[str, str] | None = None,
    ) -> bool:
        """Atomically, if the generation's position for the leader is ``after``: applies the
        ops (publishing only to the live generation), moves the position to ``up_to`` and
        records ``parked`` (field, json); False (nothing changed) if it is not."""
        ...

    def unpark(self, base: str, generation: str, field: str, ops: Sequence[Op]) -> None:
        """Applies the ops and forgets the parked event, atomically."""
        ...

    def position(self, base: str, generation: str, leader: str) -> int: ...

    def parked(self, base: str, generation: str) -> dict[str, str]: ...

    def new_generation(self, base: str) -> str: ...

    def switch(self, base: str, generation: str) -> None:
        """Makes the generation the live one and deletes the one it replaces."""
        ...

    def hgetall(self, base: str, key: str) -> dict[str, str]: ...

    def zrange(self, base: str, key: str) -> list[tuple[str, float]]: ...

    def read_feed(
        self, base: str, topic: str, after: str | None, hashes: Sequence[str], zsets: Sequence[str]
    ) -> FeedRead:
        """The topic's feed in the live generation after position ``after``, in one atomic
        read: its entries since, if it still holds them all; else the given keys of the view
        (``missed`` None: a snapshot), with the feed's newest position."""
        ...

    def snapshot(self, base: str) -> dict[str, Any]:
        """Every key of the live generation (relative to it) with its value: a hash as a dict,
        a sorted set as a list of (member, score); for comparing views."""
        ...


class HashReads(Protocol):
    """The views' hashes read from an event loop (the API's hot reads, with no thread hop)."""

    async def hgetall(self, base: str, key: str) -> dict[str, str]: ...


class ReadsInPlace:
    """A key store that does no I/O (the in-process views), read on the event loop itself."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    async def hgetall(self, base: str, key: str) -> dict[str, str]:
        return self.store.hgetall(base, key)


@dataclass
class KeyViews:
    """The writer of one projection's key-value view (``generation``: a rebuild's)."""

    store: KeyStore
    projection: Projection
    prefix: str
    generation: str = LIVE
    rebuild_batch: int = 500  # one Lua script each: Redis serves nobody else meanwhile

    @property
    def transient(self) -> tuple[type[BaseException], ...]:
        return self.store.transient

    @property
    def base(self) -> str:
        return f"{self.prefix}view:{self.projection.name}:"

    def position(self, leader: str) -> int:
        return self.store.position(self.base, self.generation, leader)

    def write(self, leader: str, after: int, up_to: int, changes: Changes) -> None:
        self._apply(leader, after, up_to, changes, None)

    def _apply(
        self,
        leader: str,
        after: int,
        up_to: int,
        changes: Changes | None,
        parked: tuple[str, str] | None,
    ) -> None:
        ops = KeyOps(self.prefix)
        if changes is not None:
            changes(ops)
        if not self.store.apply(self.base, self.generation, leader, after, up_to, ops.ops, parked):
            raise PositionMoved(f"{self.projection.name}: {leader} is no longer at {after}")

    def park(self, leader: str, after: int, notification: Notification, error: str) -> None:
        field = f"{leader}:{notification.id}"
        record = json.dumps({"topic": notification.topic, "error": error})
        self._apply(leader, after, notification.id, None, (field, record))

    def parked(self) -> list[Parked]:
        found = []
        for field, record in self.store.parked(self.base, self.generation).items():
            leader, position = field.rsplit(":", 1)
            details = json.loads(record)
            found.append(Parked(leader, int(position), details["topic"], details["error"]))
        return sorted(found, key=lambda parked: (parked.leader, parked.position))

    def unpark(self, parked: Parked, changes: Changes) -> None:
        ops = KeyOps(self.prefix)
        changes(ops)
        self.store.unpark(self.base, self.generation, f"{parked.leader}:{parked.position}", ops.ops)

    def shadow(self) -> KeyViews:
        return KeyViews(
            self.store, self.projection, self.prefix, self.store.new_generation(self.base)
        )

    def switch(self, shadow: KeyViews) -> None:
        self.store.switch(self.base, shadow.generation)
