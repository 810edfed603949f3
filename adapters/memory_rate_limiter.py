"""The embedded default's rate limiter: GCRA over a map in the process, behind one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from application.rate_limits import MICROSECONDS, Decision, Rate, gcra

DEFAULT_MAX_KEYS = 100_000


class InProcessRateLimiter:
    """Keeps each key's theoretical arrival time; keys idle again are dropped as the map grows.

    `clock` gives seconds (monotonic by default; tests pass a manual one). The map is swept
    for idle keys whenever it outgrows its bound, and the bound then doubles if most keys are
    still busy, so sweeping stays cheap while memory follows the number of busy keys.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1: {max_keys!r}")
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_above = max_keys
        self._tats_us: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate) -> Decision:
        """Counts one request of `key` if `rate` allows it; a refused request is not counted."""
        with self._lock:
            now_us = round(self._clock() * MICROSECONDS)
            decision, new_tat_us = gcra(self._tats_us.get(key), now_us, rate)
            if new_tat_us is not None:
                self._tats_us[key] = new_tat_us
                if len(self._tats_us) > self._sweep_above:
                    self._drop_idle_keys(now_us)
            return decision

    def tracked_keys(self) -> int:
        """How many keys are held (for tests and metrics)."""
        with self._lock:
            return len(self._tats_us)

    def _drop_idle_keys(self, now_us: int) -> None:
        self._tats_us = {key: tat for key, tat in self._tats_us.items() if tat > now_us}
        self._sweep_above = max(self._max_keys, 2 * len(self._tats_us))
