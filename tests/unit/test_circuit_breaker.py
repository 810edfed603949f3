"""The circuit breaker: open after consecutive failures, one probe per reset time, closed by
a probe that succeeds."""

from __future__ import annotations

import pytest

from application.circuit_breaker import BreakerOpen, BreakerState, CircuitBreaker, ProbeFailed


class Down(Exception):
    """The destination failed (a 503, say)."""


class Refused(Exception):
    """The destination answered, refusing (a 422, say)."""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("gateway", 3, 10.0, counts_as_failure=(Down,), clock=clock)


def fail() -> None:
    raise Down("503")


def test_it_opens_after_consecutive_failures_and_refuses_without_calling() -> None:
    clock = Clock()
    guard = breaker(clock)
    for _ in range(3):
        with pytest.raises(Down):
            guard.call(fail)
    calls: list[int] = []

    clock.now += 4
    with pytest.raises(BreakerOpen) as refused:
        guard.call(lambda: calls.append(1))

    assert calls == []
    assert refused.value.retry_in == pytest.approx(6.0)
    assert guard.report().state is BreakerState.OPEN
    assert guard.report().open_for == pytest.approx(4.0)


def test_a_success_between_failures_starts_the_count_again() -> None:
    guard = breaker(Clock())
    for _ in range(5):
        with pytest.raises(Down):
            guard.call(fail)
        with pytest.raises(Down):
            guard.call(fail)
        guard.call(lambda: None)

    assert guard.report().state is BreakerState.CLOSED


def test_after_the_reset_time_one_probe_goes_through_and_its_outcome_decides() -> None:
    clock = Clock()
    guard = breaker(clock)
    for _ in range(3):
        with pytest.raises(Down):
            guard.call(fail)

    clock.now += 10
    with pytest.raises(ProbeFailed) as probe:
        guard.call(fail)  # the probe fails: open again, for another reset time
    assert isinstance(probe.value.__cause__, Down)  # its caller waits for the next probe
    with pytest.raises(BreakerOpen):
        guard.call(lambda: None)
    clock.now += 10
    assert guard.call(lambda: "answered") == "answered"

    assert guard.report().state is BreakerState.CLOSED
    assert guard.report().failures == 0


def test_a_refusal_is_an_answer_not_a_failure() -> None:
    guard = breaker(Clock())
    for _ in range(10):
        with pytest.raises(Refused):
            guard.call(lambda: (_ for _ in ()).throw(Refused("422")))

    assert guard.report().state is BreakerState.CLOSED
