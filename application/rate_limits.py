"""Rate limits per user and route: the limiter port, and the sliding-window arithmetic.

An exact sliding window: a request of a key is allowed if and only if fewer than `count`
requests of that key were allowed in the last `period_seconds`; a refused request is not
counted. An allowed request counts from its moment `t` until `t + period` (the window ending
at `now` is `(now - period, now]`), so there is no burst beyond the limit at a window edge and
no refill in the middle of one: 1,000 requests against 100 per minute let exactly 100 through
whenever they come within a minute.

Time is in whole microseconds (the resolution of Redis TIME), so the in-process limiter and the
Redis Lua script, which mirrors `admit` step for step, compute exactly the same decisions.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class Rate:
    """At most `count` requests in any `period_seconds`."""

    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"a rate's count must be a whole number of at least 1: {self.count!r}")
        if not (math.isfinite(self.period_seconds) and self.period_seconds > 0):
            raise ValueError(f"a rate's period must be positive seconds: {self.period_seconds!r}")

    @property
    def period_us(self) -> int:
        """The window's length in whole microseconds (at least 1)."""
        return max(1, round(self.period_seconds * MICROSECONDS))


@dataclass(frozen=True)
class Decision:
    """Whether one request may go ahead, and what the caller should tell the client."""

    allowed: bool
    retry_after_seconds: float
    """Until the next request of this key would be allowed: 0 when allowed, > 0 when refused
    (when the counted request that holds the last place in the window leaves it)."""
    remaining: int
    """How many more requests of this key the window has room for right now."""


class RateLimiter(Protocol):
    """Counts requests per key (e.g. user and route) against a rate, atomically."""

    def hit(self, key: str, rate: Rate) -> Decision:
        """Counts one request of `key` if `rate` allows it; a refused request is not counted."""
        ...


class AsyncRateLimiter(Protocol):
    """A rate limiter for an event loop: its I/O, if any, waits without a thread."""

    async def hit(self, key: str, rate: Rate) -> Decision: ...


@dataclass(frozen=True)
class WithoutIO:
    """A rate limiter that does no I/O (the in-process one), called on the event loop."""

    limiter: RateLimiter

    async def hit(self, key: str, rate: Rate) -> Decision:
        return self.limiter.hit(key, rate)


def admit(allowed_us: deque[int], now_us: int, rate: Rate) -> Decision:
    """Decides one request of a key whose allowed requests happened at `allowed_us` (oldest
    first), and updates them: the ones out of the window are dropped, and `now_us` is appended
    when the request is allowed."""
    period = rate.period_us
    while allowed_us and allowed_us[0] <= now_us - period:
        allowed_us.popleft()
    counted = len(allowed_us)
    if counted < rate.count:
        allowed_us.append(now_us)
        return Decision(True, 0.0, rate.count - counted - 1)
    # Room for one more once all but count - 1 of them have left (the oldest, unless the
    # key's rate was lowered while it held more).
    frees_at = allowed_us[counted - rate.count] + period
    return Decision(False, (frees_at - now_us) / MICROSECONDS, 0)
