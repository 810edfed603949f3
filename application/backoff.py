"""A worker component that sits out after a failure of a kind that retrying at once cannot
mend (a broker that is down): 0.5 s, then twice as long each time, up to a cap; the first pass
that succeeds resets it. Meanwhile its passes do nothing and report nothing done, so the
runtime neither spins on the failure nor waits for it."""

from __future__ import annotations

import time
from collections.abc import Callable

from application.runtime import Component

FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 30.0


class BackingOff:
    def __init__(
        self,
        component: Component,
        transient: tuple[type[BaseException], ...],
        clock: Callable[[], float] = time.monotonic,
        longest_pause: float = LONGEST_PAUSE_SECONDS,
    ) -> None:
        self.component = component
        self.transient = transient
        self.clock = clock
        self.longest_pause = longest_pause
        self.failures = 0  # in a row
        self.resume_at = 0.0
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        return self.component.name

    def run_once(self) -> int:
        if self.clock() < self.resume_at:
            return 0
        try:
            done = self.component.run_once()
        except self.transient as error:
            self.failures += 1
            pause = min(self.longest_pause, FIRST_PAUSE_SECONDS * 2 ** (self.failures - 1))
            self.resume_at = self.clock() + pause
            self.last_error = f"{error} (next try in {pause:g} s)"
            raise
        self.failures, self.last_error = 0, None
        return done
