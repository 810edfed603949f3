"""Waiting, within a bound, for what another process or thread does.

Tests wait on positions wherever they know one (``?min_position=``, ``wait_until``). What is left
here is watching progress that has no position the test can know: a server process starting or
stopping, a worker's saga assigning a courier. ``look`` is asked every ``every`` seconds until it
returns something other than None; at the deadline the test fails, saying what it waited for and
what it saw last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
EVERY_SECONDS = 0.02


class Seen:
    """What a look saw last, for the failure message."""

    def __init__(self) -> None:
        self.last: object = "nothing yet"


def poll_until(
    look: Callable[[Seen], T | None], *, within: float, what: str, every: float = EVERY_SECONDS
) -> T:
    seen, deadline = Seen(), time.monotonic() + within
    while (found := look(seen)) is None:
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within} s; last saw {seen.last}")
        time.sleep(every)
    return found


async def poll_until_async(
    look: Callable[[Seen], Awaitable[T | None]],
    *,
    within: float,
    what: str,
    every: float = EVERY_SECONDS,
) -> T:
    seen, deadline = Seen(), time.monotonic() + within
    while (found := await look(seen)) is None:
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within} s; last saw {seen.last}")
        await asyncio.sleep(every)
    return found
