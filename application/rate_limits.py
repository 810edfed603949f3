"""Rate limits per user and route: the limiter port, and the GCRA arithmetic every adapter shares.

The generic cell rate algorithm keeps one number per key, the theoretical arrival time (TAT):
when the key's next request would be due if requests came exactly one emission interval
(period / count) apart. A request is allowed when, counting it, the TAT is at most one burst
window (count intervals) ahead of now. From idle, exactly `count` requests pass at once, then
one more per interval; a refused request changes nothing.

Time is in whole microseconds (the resolution of Redis TIME) so the in-process limiter and the
Redis Lua script, which mirrors `gcra` line for line, compute exactly the same decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class Rate:
    """At most `count` requests per `period_seconds`, all of them allowed at once from idle."""

    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"a rate's count must be a whole number of at least 1: {self.count!r}")
        if not (math.isfinite(self.period_seconds) and self.period_seconds > 0):
            raise ValueError(f"a rate's period must be positive seconds: {self.period_seconds!r}")

    @property
    def interval_us(self) -> int:
        """Microseconds between requests once the burst is spent (at least 1)."""
        return max(1, round(self.period_seconds * MICROSECONDS / self.count))


@dataclass(frozen=True)
class Decision:
    """Whether one request may go ahead, and what the caller should tell the client."""

    allowed: bool
    retry_after_seconds: float
    """Until the next request of this key would be allowed: 0 when allowed, > 0 when refused."""
    remaining: int
    """How many more requests of this key would be allowed right now."""


class RateLimiter(Protocol):
    """Counts requests per key (e.g. user and route) against a rate, atomically."""

    def hit(self, key: str, rate: Rate) -> Decision:
        """Counts one request of `key` if `rate` allows it; a refused request is not counted."""
        ...


def gcra(tat_us: int | None, now_us: int, rate: Rate) -> tuple[Decision, int | None]:
    """Decides one request of a key whose stored TAT is `tat_us` (None: never seen or expired).

    Returns the decision and the TAT to store, or None when refused (nothing to store).
    """
    interval = rate.interval_us
    window = interval * rate.count
    new_tat = max(tat_us, now_us) + interval if tat_us is not None else now_us + interval
    wait_us = new_tat - window - now_us
    if wait_us > 0:
        return Decision(False, wait_us / MICROSECONDS, 0), None
    remaining = (window - (new_tat - now_us)) // interval
    return Decision(True, 0.0, remaining), new_tat
