"""How each worker component is doing, as its runtime sees it, and where that is reported.

A component that keeps failing (its dependency is down: Redis, the gateway, a database) is let
go after ``give_up_seconds`` of failing, so a healthy standby can take it; its old owner rests
as long before it asks for it again (and takes it back if nobody else did).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from application.circuit_breaker import BreakerReport


@dataclass
class ComponentHealth:
    component: str
    owned: bool = False
    failures: int = 0  # consecutive failed passes
    failing_since: float | None = None  # the runtime's clock, from the first of them
    last_error: str = ""
    resting_until: float = 0.0  # let go because it kept failing: not asked for until then

    def state(self, now: float) -> str:
        if self.resting_until > now:
            return "resting"
        if not self.owned:
            return "standby"
        return "failing" if self.failures else "running"

    def failing_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since


class HealthBoard(Protocol):
    """Where a worker publishes its components' health, for operators and other processes."""

    def report(
        self,
        worker: str,
        health: list[ComponentHealth],
        now: float,
        breakers: Sequence[BreakerReport] = (),
    ) -> None:
        """The worker's components, and the circuit breakers of the destinations it calls."""
        ...
