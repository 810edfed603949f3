"""A circuit breaker per outside destination (the UPI gateway; later FCM and Kafka).

After ``failure_threshold`` consecutive failures the breaker opens: calls are refused at once
(``BreakerOpen``, saying how long until the next probe) instead of each queued call hammering a
destination that is down. After ``reset_seconds`` one call goes through as a probe (half-open):
if it succeeds the breaker closes, if it fails it opens again for another ``reset_seconds``.
So while a destination is down it sees at most one call per ``reset_seconds``.

Each breaker lives in the one process that makes the calls (the outbox and reconciliation run
in the worker holding their lock); what it is doing is reported with the components' health.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpen(Exception):
    """The destination is failing: the call was not made. Try again in ``retry_in`` seconds."""

    def __init__(self, destination: str, retry_in: float) -> None:
        super().__init__(f"{destination} is failing: circuit open, next probe in {retry_in:.1f} s")
        self.destination = destination
        self.retry_in = retry_in


class ProbeFailed(BreakerOpen):
    """The call was the breaker's probe of a failing destination, and it failed too (its error
    is the ``__cause__``): the circuit is open again. Its caller waits for the next probe like
    every other, rather than paying for the outage alone (a failure counted against its own
    attempts, and a backoff that leaves it behind once the destination is back)."""


@dataclass(frozen=True)
class BreakerReport:
    destination: str
    state: BreakerState
    failures: int  # consecutive failed calls
    open_for: float  # seconds since it opened (0 when closed)


@dataclass
class CircuitBreaker:
    destination: str
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    counts_as_failure: tuple[type[BaseException], ...] = (Exception,)
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def call(self, action: Callable[[], T]) -> T:
        """Makes the call if the breaker lets it through; raises ``BreakerOpen`` if not, and
        ``ProbeFailed`` if it was let through as the probe and failed."""
        probe = self._admit()
        try:
            result = action()
        except self.counts_as_failure as error:
            self._failed()
            if probe:
                log.warning("%s: the probe failed, open again: %r", self.destination, error)
                raise ProbeFailed(self.destination, self.reset_seconds) from error
            raise
        except BaseException:
            self._succeeded()  # it answered, if only to refuse: the destination is up
            raise
        self._succeeded()
        return result

    def report(self) -> BreakerReport:
        with self._lock:
            open_for = 0.0 if self.state is BreakerState.CLOSED else self.clock() - self.opened_at
            return BreakerReport(self.destination, self.state, self.failures, open_for)

    def _admit(self) -> bool:
        """Raises BreakerOpen unless the call may be made; whether it is the probe."""
        with self._lock:
            if self.state is BreakerState.CLOSED:
                return False
            if self.state is BreakerState.HALF_OPEN:  # one probe at a time
                raise BreakerOpen(self.destination, min(1.0, self.reset_seconds))
            waited = self.clock() - self.opened_at
            if waited < self.reset_seconds:
                raise BreakerOpen(self.destination, self.reset_seconds - waited)
            self.state = BreakerState.HALF_OPEN
            return True

    def _failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
                self.state, self.opened_at = BreakerState.OPEN, self.clock()

    def _succeeded(self) -> None:
        with self._lock:
            self.state, self.failures = BreakerState.CLOSED, 0
