"""The embedded default's rate limiter: exact sliding windows in the process, behind one lock."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from application.rate_limits import MICROSECONDS, Decision, Rate, admit

DEFAULT_MAX_KEYS = 100_000


@dataclass(slots=True)
class _Window:
    allowed_us: deque[int] = field(default_factory=deque)
    idle_at_us: int = 0
    """When the newest allowed request leaves the window (the key holds nothing from then)."""


class InProcessRateLimiter:
    """Keeps the times of each key's allowed requests in its window (at most `count` of them);
    keys idle again are dropped as the map grows.

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
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate) -> Decision:
        """Counts one request of `key` if `rate` allows it; a refused request is not counted."""
        with self._lock:
            now_us = round(self._clock() * MICROSECONDS)
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window()
            decision = admit(window.allowed_us, now_us, rate)
            if decision.allowed:
                window.idle_at_us = now_us + rate.period_us
                if len(self._windows) > self._sweep_above:
                    self._drop_idle_keys(now_us)
            return decision

    def tracked_keys(self) -> int:
        """How many keys are held (for tests and metrics)."""
        with self._lock:
            return len(self._windows)

    def _drop_idle_keys(self, now_us: int) -> None:
        self._windows = {
            key: window for key, window in self._windows.items() if window.idle_at_us > now_us
        }
        self._sweep_above = max(self._max_keys, 2 * len(self._windows))
