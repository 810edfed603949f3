"""Running the saga: its process managers, the deadline scheduler and the outbox.

Each component is run by one process at a time: the runtime asks its leadership for a
component before each pass, and a second worker started for the same component waits as a hot
standby until the owner goes away. Progress lives in the stores (tracking positions and the
work table), so a restarted worker resumes where the last one stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eventsourcing.application import Application
from eventsourcing.system import RecordingEvent, RecordingEventReceiver, System

from application.base import TiffinProcess
from application.circuit_breaker import CircuitBreaker
from application.component_health import ComponentHealth, HealthBoard
from application.deliveries import Deliveries
from application.ordering import Ordering
from application.payments import Payments

log = logging.getLogger(__name__)

# Who follows whom (ARCHITECTURE.md, "The order saga").
SAGA = System(pipes=[[Ordering, Payments, Ordering], [Ordering, Deliveries, Ordering]])


class Component(Protocol):
    @property
    def name(self) -> str: ...

    def run_once(self) -> int:
        """Does what there is to do now; returns how much that was (0: nothing)."""
        ...


@runtime_checkable
class Following(Protocol):
    """A component that only reads logs: a pass asks it to read just those whose head moved
    since it last read them all (so an idle log costs one head read per pass, not one read
    per component following it)."""

    @property
    def name(self) -> str: ...

    @property
    def follows(self) -> Sequence[str]:
        """The names of the logs it reads."""
        ...

    def run_logs(self, logs: Collection[str]) -> int:
        """Does what there is to do in these of its logs; returns how much (0: nothing)."""
        ...


LogHeads = Callable[[], Mapping[str, int]]  # each log's last position now, by name


class Leadership(Protocol):
    def holds(self, component: str) -> bool:
        """True if this process owns the component, taking it if nobody does."""
        ...

    def let_go(self, component: str) -> None:
        """Gives up one component, so that another process may take it."""
        ...

    def release(self) -> None: ...


@dataclass
class SagaStep:
    """A process manager following the applications the saga's system says it follows."""

    app: TiffinProcess
    leaders: Sequence[Application[Any]]

    def __post_init__(self) -> None:
        for leader in self.leaders:
            self.app.follow(leader.name, leader.notification_log)

    @property
    def name(self) -> str:
        return self.app.name.lower()

    @property
    def follows(self) -> list[str]:
        return [leader.name for leader in self.leaders]

    def run_once(self) -> int:
        return self.run_logs(self.follows)

    def run_logs(self, logs: Collection[str]) -> int:
        return sum(self.app.process_backlog(leader) for leader in self.follows if leader in logs)


class ComponentFailed(Exception):
    """A component raised while running (it is retried on the next pass)."""


class WakeUp(Protocol):
    """Wakes a started runtime when other processes record events (else it polls)."""

    def start(self, wake: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


REPORT_EVERY_SECONDS = 1.0


class Runtime(RecordingEventReceiver[Any]):
    def __init__(
        self,
        components: Sequence[Component],
        leadership: Leadership,
        poll_seconds: float = 0.2,
        wake_up: WakeUp | None = None,
        *,
        give_up_seconds: float = 30.0,
        board: HealthBoard | None = None,
        breakers: Callable[[], Sequence[CircuitBreaker]] = tuple,
        clock: Callable[[], float] = time.monotonic,
        log_heads: LogHeads | None = None,
    ) -> None:
        self.components = list(components)
        self.leadership = leadership
        self.poll_seconds = poll_seconds
        self.wake_up = wake_up
        self.give_up_seconds = give_up_seconds
        self.board = board
        self.breakers = breakers
        self.clock = clock
        self.log_heads = log_heads
        self._read_through: dict[str, dict[str, int]] = {}  # component -> log -> head
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.health = {c.name: ComponentHealth(c.name) for c in self.components}
        self._reported_at = -REPORT_EVERY_SECONDS
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def receive_recording_event(self, new_recording_event: RecordingEvent[Any]) -> None:
        """Something was recorded in this process: run now rather than at the next poll."""
        self._wake.set()

    def wake(self) -> None:
        """Something was recorded, here or elsewhere: run now rather than at the next poll."""
        self._wake.set()

    def run_once(self) -> tuple[int, list[BaseException]]:
        done, errors = 0, list[BaseException]()
        heads = self._heads()
        for component in self.components:
            health, now = self.health[component.name], self.clock()
            if health.resting_until > now or not self._leads(component.name):
                continue
            try:
                if heads and isinstance(component, Following):
                    done += self._run_moved(component, heads)
                else:
                    done += component.run_once()
            except Exception as error:
                log.exception("%s failed; retrying on the next pass", component.name)
                errors.append(error)
                self._failed(health, error, now)
            else:
                health.failures, health.failing_since, health.last_error = 0, None, ""
        self._report()
        return done, errors

    def _heads(self) -> Mapping[str, int]:
        """Each log's head, read once for the pass (none known: every component reads all)."""
        if self.log_heads is None:
            return {}
        try:
            return self.log_heads()
        except Exception as error:  # the components then meet (and report) the outage
            log.warning("could not read the logs' heads: %r", error)
            return {}

    def _run_moved(self, component: Following, heads: Mapping[str, int]) -> int:
        """Runs the component on its logs whose head moved since it last read them through.
        A log's head cannot move back, nor an earlier position be written after it (saves
        commit in position order), so a log at the same head holds nothing new for it."""
        read_through = self._read_through.setdefault(component.name, {})
        moved = [
            name
            for name in component.follows
            if name not in heads or read_through.get(name) != heads[name]
        ]
        if not moved:
            return 0
        done = component.run_logs(moved)
        read_through.update({name: heads[name] for name in moved if name in heads})
        return done

    def _leads(self, name: str) -> bool:
        health, holds = self.health[name], self.leadership.holds(name)
        if holds and not health.owned:
            log.info("took over %s", name)
        elif not holds and health.owned:
            log.warning("handed over %s: no longer its owner, standing by", name)
        health.owned = holds
        return holds

    def _failed(self, health: ComponentHealth, error: Exception, now: float) -> None:
        """Counts a failed pass; after ``give_up_seconds`` of them, lets the component go."""
        health.failures += 1
        health.last_error = f"{type(error).__name__}: {error}"[:500]
        if health.failing_since is None:
            health.failing_since = now
        failing_for = now - health.failing_since
        if failing_for < self.give_up_seconds:
            return
        log.warning(
            "letting go of %s after failing for %.0f s (%s); standing by for %.0f s",
            health.component,
            failing_for,
            health.last_error,
            self.give_up_seconds,
        )
        self.leadership.let_go(health.component)
        health.owned, health.failing_since = False, None
        health.resting_until = now + self.give_up_seconds

    def _report(self) -> None:
        now = self.clock()
        if self.board is None or now - self._reported_at < REPORT_EVERY_SECONDS:
            return
        self._reported_at = now
        try:
            breakers = [breaker.report() for breaker in self.breakers()]
            self.board.report(self.worker, list(self.health.values()), now, breakers)
        except Exception as error:  # reporting never stops the work
            log.warning("could not report the components' health: %r", error)

    def run_until_idle(self, max_passes: int = 10_000) -> int:
        """Runs passes until one finds nothing to do; raises what any component raised."""
        total = 0
        for _ in range(max_passes):
            done, errors = self.run_once()
            if errors:
                raise ComponentFailed(f"{len(errors)} component(s) failed") from errors[0]
            if not done:
                return total
            total += done
        raise ComponentFailed(f"still busy after {max_passes} passes")

    def run(self) -> None:
        """Runs until stopped: at once when woken, else every ``poll_seconds``."""
        while not self._stop.is_set():
            done, errors = self.run_once()
            if not done or errors:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="tiffin-runtime", daemon=True)
        self._thread.start()
        if self.wake_up is not None:
            self.wake_up.start(self.wake)

    def stop(self) -> None:
        if self.wake_up is not None and self._thread is not None:
            self.wake_up.stop()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.leadership.release()
