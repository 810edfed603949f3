"""Sliding-window rate limits: exact counts, slides, refusals and fairness, on a clock the test
moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory_rate_limiter import InProcessRateLimiter
from application.rate_limits import Decision, Rate


class ManualClock:
    """Time that passes only when the test says so, held in whole microseconds."""

    def __init__(self, start_us: int = 1_000_000_000) -> None:
        self.now_us = start_us

    def __call__(self) -> float:
        return self.now_us / 1_000_000

    def advance(self, seconds: float) -> None:
        self.advance_us(round(seconds * 1_000_000))

    def advance_us(self, microseconds: int) -> None:
        self.now_us += microseconds


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


def test_exactly_count_requests_pass_and_the_next_waits_for_the_oldest_to_leave(
    limiter: InProcessRateLimiter,
) -> None:
    allowed = [limiter.hit("customer-1:orders", Rate(10, 60)) for _ in range(10)]
    refused = limiter.hit("customer-1:orders", Rate(10, 60))

    assert [d.allowed for d in allowed] == [True] * 10
    assert [d.remaining for d in allowed] == list(range(9, -1, -1))
    assert refused == Decision(allowed=False, retry_after_seconds=60.0, remaining=0)


def test_the_window_slides_one_place_as_each_allowed_request_leaves_it(
    limiter: InProcessRateLimiter, clock: ManualClock
) -> None:
    rate = Rate(3, 60)
    assert limiter.hit("k", rate).allowed  # at 0 s
    clock.advance(10)
    assert limiter.hit("k", rate).allowed  # at 10 s
    clock.advance(15)
    assert limiter.hit("k", rate).allowed  # at 25 s
    clock.advance(34.999)
    assert limiter.hit("k", rate) == Decision(False, 0.001, 0)  # until 60 s

    clock.advance(0.001)  # the first has left: one place, and only one
    assert limiter.hit("k", rate) == Decision(True, 0.0, 0)
    assert limiter.hit("k", rate) == Decision(False, 10.0, 0)  # until the second leaves
    clock.advance(10)
    assert limiter.hit("k", rate) == Decision(True, 0.0, 0)
    clock.advance(60)  # all have left
    assert [limiter.hit("k", rate).remaining for _ in range(3)] == [2, 1, 0]


def test_no_more_than_count_pass_in_any_window_however_the_hits_are_spread(
    limiter: InProcessRateLimiter, clock: ManualClock
) -> None:
    rate = Rate(100, 60)
    allowed = 0
    for _ in range(1_000):  # one hit every 0.1 s for 100 s: 100 in the first minute
        allowed += limiter.hit("k", rate).allowed
        clock.advance(0.1)

    assert allowed == 200  # the first 100, then the next 100 from 60 s on


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


def test_a_lowered_rate_waits_until_the_window_has_room_under_it(
    limiter: InProcessRateLimiter, clock: ManualClock
) -> None:
    for _ in range(5):
        limiter.hit("k", Rate(5, 60))
        clock.advance(1)

    assert limiter.hit("k", Rate(2, 60)).retry_after_seconds == pytest.approx(58)  # 4th leaves


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


def test_a_key_is_kept_until_its_newest_allowed_request_has_left_the_window(
    clock: ManualClock,
) -> None:
    limiter = InProcessRateLimiter(clock=clock, max_keys=1)
    limiter.hit("asha", Rate(1, 60))
    clock.advance_us(60_000_000 - 1)

    limiter.hit("ravi", Rate(1, 60))  # the map outgrows its bound: a sweep

    assert limiter.tracked_keys() == 2
    assert limiter.hit("asha", Rate(1, 60)) == Decision(False, 0.000001, 0)


def test_busy_keys_are_kept_however_many_there_are(clock: ManualClock) -> None:
    limiter = InProcessRateLimiter(clock=clock, max_keys=10)
    for user in range(1_000):
        limiter.hit(f"user-{user}", Rate(1, 60))

    assert limiter.tracked_keys() == 1_000
    assert not limiter.hit("user-0", Rate(1, 60)).allowed


rates = st.builds(Rate, st.integers(1, 8), st.integers(1, 3_000_000).map(lambda us: us / 1e6))


@st.composite
def rates_and_hits(draw: st.DrawFn) -> tuple[Rate, list[tuple[str, int]]]:
    """A rate, and hits of keys "a" to "c" each after an advance in microseconds: any, or
    one that puts it right at (or a microsecond off) an edge of some window."""
    rate = draw(rates)
    edges = st.sampled_from([0, 1, rate.period_us - 1, rate.period_us, rate.period_us + 1])
    advances = st.one_of(st.integers(0, 1_000_000), edges)
    return rate, draw(st.lists(st.tuples(st.sampled_from("abc"), advances), max_size=200))


def in_window(allowed_us: list[int], end_us: int, period_us: int) -> int:
    """How many of the allowed hits lie in the window of `period_us` ending at `end_us`."""
    return sum(end_us - period_us < at <= end_us for at in allowed_us)


@given(rates_and_hits())
def test_a_hit_is_allowed_exactly_when_its_window_holds_fewer_than_count_allowed_hits(
    rate_and_hits: tuple[Rate, list[tuple[str, int]]],
) -> None:
    rate, steps = rate_and_hits
    clock = ManualClock()
    limiter = InProcessRateLimiter(clock=clock, max_keys=2)  # sweeps as it goes, too
    allowed_at: dict[str, list[int]] = {key: [] for key in "abc"}
    period = rate.period_us
    for key, advance_us in steps:
        clock.advance_us(advance_us)
        now = clock.now_us
        before = in_window(allowed_at[key], now, period)

        decision = limiter.hit(key, rate)

        assert decision.allowed == (before < rate.count)
        if decision.allowed:
            allowed_at[key].append(now)
            assert decision == Decision(True, 0.0, rate.count - before - 1)
            continue
        retry_us = round(decision.retry_after_seconds * 1_000_000)
        assert retry_us > 0
        assert decision.remaining == 0
        # Exact: the window is full until then, and has room from then on.
        assert in_window(allowed_at[key], now + retry_us - 1, period) >= rate.count
        assert in_window(allowed_at[key], now + retry_us, period) < rate.count

    for times in allowed_at.values():  # every window of length period, wherever it starts
        assert all(in_window(times, end, period) <= rate.count for end in times)
