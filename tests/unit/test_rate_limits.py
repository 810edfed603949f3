"""GCRA rate limits: bursts, refills and fairness, on a clock the test moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory_rate_limiter import InProcessRateLimiter
from application.rate_limits import Decision, Rate, gcra


class ManualClock:
    """Seconds that pass only when the test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limiter(clock: ManualClock) -> InProcessRateLimiter:
    return InProcessRateLimiter(clock=clock)


@pytest.mark.parametrize(("count", "period"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -5.0)])
def test_a_rate_needs_a_positive_count_and_period(count: int, period: float) -> None:
    with pytest.raises(ValueError, match="rate's"):
        Rate(count, period)


def test_from_idle_exactly_count_requests_pass_then_one_waits_an_interval(
    limiter: InProcessRateLimiter,
) -> None:
    burst = [limiter.hit("customer-1:orders", Rate(10, 60)) for _ in range(10)]
    refused = limiter.hit("customer-1:orders", Rate(10, 60))

    assert [d.allowed for d in burst] == [True] * 10
    assert [d.remaining for d in burst] == list(range(9, -1, -1))
    assert refused == Decision(allowed=False, retry_after_seconds=6.0, remaining=0)


def test_one_request_more_is_allowed_per_interval(
    limiter: InProcessRateLimiter, clock: ManualClock
) -> None:
    rate = Rate(10, 60)
    for _ in range(10):
        limiter.hit("k", rate)

    clock.advance(5.999)
    assert limiter.hit("k", rate).retry_after_seconds == pytest.approx(0.001)
    clock.advance(0.001)
    assert limiter.hit("k", rate) == Decision(True, 0.0, 0)
    assert not limiter.hit("k", rate).allowed
    clock.advance(12)
    assert [limiter.hit("k", rate).allowed for _ in range(3)] == [True, True, False]


def test_refused_requests_do_not_use_up_capacity(
    limiter: InProcessRateLimiter, clock: ManualClock
) -> None:
    rate = Rate(1, 1)
    assert limiter.hit("courier-7:ping", rate).allowed
    for _ in range(100):
        clock.advance(0.009)
        assert not limiter.hit("courier-7:ping", rate).allowed

    clock.advance(0.1)
    assert limiter.hit("courier-7:ping", rate).allowed


def test_keys_are_limited_independently(limiter: InProcessRateLimiter) -> None:
    rate = Rate(2, 60)
    assert [limiter.hit("asha", rate).allowed for _ in range(3)] == [True, True, False]
    assert [limiter.hit("ravi", rate).allowed for _ in range(3)] == [True, True, False]


def test_idle_keys_are_dropped_once_the_map_outgrows_its_bound(clock: ManualClock) -> None:
    limiter = InProcessRateLimiter(clock=clock, max_keys=100)
    for user in range(100):
        limiter.hit(f"user-{user}", Rate(5, 1))

    clock.advance(1)
    limiter.hit("newcomer", Rate(5, 1))

    assert limiter.tracked_keys() == 1
    assert [limiter.hit("user-0", Rate(5, 1)).allowed for _ in range(6)] == [True] * 5 + [False]


def test_busy_keys_are_kept_however_many_there_are(clock: ManualClock) -> None:
    limiter = InProcessRateLimiter(clock=clock, max_keys=10)
    for user in range(1_000):
        limiter.hit(f"user-{user}", Rate(1, 60))

    assert limiter.tracked_keys() == 1_000
    assert not limiter.hit("user-0", Rate(1, 60)).allowed


rates = st.builds(
    lambda count, interval_ms: Rate(count, count * interval_ms / 1_000),
    st.integers(1, 20),
    st.integers(1, 2_000),
)
hits = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3_000_000)), max_size=200)


@given(rate=rates, steps=hits)
def test_no_window_lets_through_more_than_a_burst_plus_its_refills(
    rate: Rate, steps: list[tuple[str, int]]
) -> None:
    tats: dict[str, int | None] = {}
    allowed_at: dict[str, list[int]] = {}
    now_us = 0
    for key, advance_us in steps:
        now_us += advance_us
        decision, new_tat = gcra(tats.get(key), now_us, rate)
        assert decision.allowed == (new_tat is not None)
        assert (decision.retry_after_seconds > 0) != decision.allowed
        if new_tat is not None:
            tats[key] = new_tat
            allowed_at.setdefault(key, []).append(now_us)

    for times in allowed_at.values():
        for first in range(len(times)):
            for last in range(first, len(times)):
                span_us = times[last] - times[first]
                assert last - first + 1 <= rate.count + span_us // rate.interval_us


@given(rate=rates, steps=hits)
def test_a_key_idle_for_a_full_period_is_always_allowed_its_whole_burst(
    rate: Rate, steps: list[tuple[str, int]]
) -> None:
    tats: dict[str, int | None] = {}
    last_allowed: dict[str, int] = {}
    now_us = 0
    for key, advance_us in steps:
        now_us += advance_us
        decision, new_tat = gcra(tats.get(key), now_us, rate)
        if key not in last_allowed or now_us - last_allowed[key] >= rate.interval_us * rate.count:
            assert decision == Decision(True, 0.0, rate.count - 1)
        if new_tat is not None:
            tats[key], last_allowed[key] = new_tat, now_us


@given(rate=rates, steps=hits)
def test_a_refused_request_is_allowed_exactly_when_its_retry_after_has_passed(
    rate: Rate, steps: list[tuple[str, int]]
) -> None:
    tats: dict[str, int | None] = {}
    now_us = 0
    for key, advance_us in steps:
        now_us += advance_us
        decision, new_tat = gcra(tats.get(key), now_us, rate)
        if new_tat is not None:
            tats[key] = new_tat
            continue
        retry_us = round(decision.retry_after_seconds * 1_000_000)
        assert not gcra(tats[key], now_us + retry_us - 1, rate)[0].allowed
        assert gcra(tats[key], now_us + retry_us, rate)[0].allowed
