"""The in-process stand-in for the Redis views on the embedded default: the same operations,
the same position guard and generations, over dictionaries under one lock; live followers
subscribe with a callback instead of a Redis channel."""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any

from projections.key_views import Op
from projections.live_feed import FEED_KEEP, NO_POSITION, FeedRead, position_key

Follower = Callable[[str, str], None]  # (channel, "<position> <message>")


class _Feed:
    """A topic's feed: its newest ``FEED_KEEP`` entries, and the newest one trimmed."""

    def __init__(self) -> None:
        self.entries: deque[tuple[str, str]] = deque()
        self.trimmed = NO_POSITION

    def add(self, position: str, message: str) -> None:
        self.entries.append((position, message))
        if len(self.entries) > FEED_KEEP:
            self.trimmed = self.entries.popleft()[0]


class MemoryViews:
    transient: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._hashes: dict[str, dict[str, str]] = defaultdict(dict)
        self._zsets: dict[str, dict[str, float]] = defaultdict(dict)
        self._live: dict[str, str] = {}
        self._generations: dict[str, int] = defaultdict(int)
        self._followers: list[Follower] = []
        self._feeds: dict[str, _Feed] = defaultdict(_Feed)
        self._fed = 0  # the last feed entry's sequence number
        self._lock = threading.Lock()

    def follow(self, follower: Follower) -> Callable[[], None]:
        """Calls ``follower`` with every message published from now; returns how to stop."""
        with self._lock:
            self._followers.append(follower)
        return lambda: self._followers.remove(follower)

    def _space(self, base: str, generation: str) -> str:
        return f"{base}g{generation or self._live.get(base, '0')}:"

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
        ops = json.loads(json.dumps(ops))  # what Redis would get: plain JSON values
        with self._lock:
            space = self._space(base, generation)
            positions = self._hashes[space + "positions"]
            if int(positions.get(leader, "0")) != after:
                return False
            positions[leader] = str(up_to)
            published = self._run(space, ops, publishing=not generation)
            if parked is not None:
                self._hashes[space + "parked"][parked[0]] = parked[1]
            followers = list(self._followers)
        for channel, message in published:
            for follower in followers:
                follower(channel, message)
        return True

    def unpark(self, base: str, generation: str, field: str, ops: Sequence[Op]) -> None:
        with self._lock:
            space = self._space(base, generation)
            self._run(space, json.loads(json.dumps(ops)), publishing=False)
            self._hashes[space + "parked"].pop(field, None)

    def _run(self, space: str, ops: Sequence[Op], publishing: bool) -> list[tuple[str, str]]:
        published = []
        for name, target, *args in ops:
            if name == "feed":
                topic = self._named(space, target) if publishing else None
                if topic is not None:
                    message, channels = args
                    self._fed += 1
                    position = f"0-{self._fed}"
                    self._feeds[space + "feed:" + topic].add(position, message)
                    published.append((channels + topic, f"{position} {message}"))
                continue
            key = self._key(space, target)
            if key is None:
                continue
            if name == "hset":
                self._hashes[key].update(zip(args[::2], args[1::2], strict=True))
            elif name == "hdel":
                for field in args:
                    self._hashes[key].pop(field, None)
            elif name == "zadd":
                self._zsets[key][args[1]] = float(args[0])
            elif name == "zrem":
                self._zsets[key].pop(args[0], None)
        return published

    def _named(self, space: str, target: Any) -> str | None:
        if isinstance(target, str):
            return target
        hash_key, field, template = target
        value = self._hashes.get(space + hash_key, {}).get(field)
        return template % value if value else None

    def _key(self, space: str, target: Any) -> str | None:
        name = self._named(space, target)
        return None if name is None else space + name

    def read_feed(
        self, base: str, topic: str, after: str | None, hashes: Sequence[str], zsets: Sequence[str]
    ) -> FeedRead:
        with self._lock:
            space = self._space(base, "")
            feed = self._feeds.get(space + "feed:" + topic)
            newest = feed.entries[-1][0] if feed and feed.entries else NO_POSITION
            if feed is not None and after is not None:
                since = position_key(after)
                if position_key(feed.trimmed) <= since <= position_key(newest):
                    missed = [
                        (p, json.loads(m)) for p, m in feed.entries if position_key(p) > since
                    ]
                    return FeedRead(newest, missed)
            return FeedRead(
                newest,
                None,
                {k: dict(self._hashes.get(space + k, {})) for k in hashes},
                {
                    k: sorted(self._zsets.get(space + k, {}).items(), key=lambda m: (m[1], m[0]))
                    for k in zsets
                },
            )

    def position(self, base: str, generation: str, leader: str) -> int:
        with self._lock:
            positions = self._hashes.get(self._space(base, generation) + "positions", {})
            return int(positions.get(leader, "0"))

    def parked(self, base: str, generation: str) -> dict[str, str]:
        with self._lock:
            return dict(self._hashes.get(self._space(base, generation) + "parked", {}))

    def new_generation(self, base: str) -> str:
        with self._lock:
            self._generations[base] += 1
            return str(self._generations[base])

    def switch(self, base: str, generation: str) -> None:
        with self._lock:
            retired = self._space(base, "")
            self._live[base] = generation
            for keys in (self._hashes, self._zsets, self._feeds):
                for key in [k for k in keys if k.startswith(retired)]:
                    del keys[key]

    def hgetall(self, base: str, key: str) -> dict[str, str]:
        with self._lock:
            return dict(self._hashes.get(self._space(base, "") + key, {}))

    def snapshot(self, base: str) -> dict[str, Any]:
        with self._lock:
            space = self._space(base, "")
            found: dict[str, Any] = {
                key[len(space) :]: dict(value)
                for key, value in self._hashes.items()
                if key.startswith(space) and value
            }
            for key, members in self._zsets.items():
                if key.startswith(space) and members:
                    found[key[len(space) :]] = sorted(members.items(), key=lambda m: (m[1], m[0]))
            return found

    def zrange(self, base: str, key: str) -> list[tuple[str, float]]:
        with self._lock:
            members = self._zsets.get(self._space(base, "") + key, {})
            return sorted(members.items(), key=lambda item: (item[1], item[0]))
