"""The in-process stand-in for the Redis views on the embedded default: the same operations,
the same position guard and generations, over dictionaries under one lock; live followers
subscribe with a callback instead of a Redis channel."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from projections.key_views import Op

Follower = Callable[[str, str], None]  # (channel, message)


class MemoryViews:
    transient: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._hashes: dict[str, dict[str, str]] = defaultdict(dict)
        self._zsets: dict[str, dict[str, float]] = defaultdict(dict)
        self._live: dict[str, str] = {}
        self._generations: dict[str, int] = defaultdict(int)
        self._followers: list[Follower] = []
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
            if name == "publish":
                if publishing:
                    published.append((target, args[0]))
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

    def _key(self, space: str, target: Any) -> str | None:
        if isinstance(target, str):
            return space + target
        hash_key, field, template = target
        value = self._hashes.get(space + hash_key, {}).get(field)
        return None if value is None else space + template % value

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
            for keys in (self._hashes, self._zsets):
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
