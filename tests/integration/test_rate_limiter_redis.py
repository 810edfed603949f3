"""One contract for every rate limiter, on real time: in-process, and Redis on this machine
(over RESP2 and RESP3) through the async client the API asks it with, from an event loop of
the test's own. No Redis is a failure, never a skip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from uuid import uuid4

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from adapters.loop_thread import LoopThread
from adapters.memory_rate_limiter import InProcessRateLimiter
from adapters.redis_rate_limiter import AsyncRedisRateLimiter
from application.rate_limits import Decision, Rate, RateLimiter
from tests.redis_server import REDIS_URL, scratch_prefix

CLOCKS_APART = 0.005  # Redis TIME against this process's monotonic clock, over a second or two


@pytest.fixture
def redis_client(request: pytest.FixtureRequest) -> Iterator[Redis]:
    protocol = getattr(request, "param", 3)
    client = Redis.from_url(REDIS_URL, protocol=protocol)
    yield client
    client.close()


class RedisOnALoop:
    """The API's Redis limiter, asked from the test's threads: each hit runs on one event loop
    (as the API's requests do) and the thread waits for its decision."""

    def __init__(self, protocol: int, prefix: str) -> None:
        self.prefix = prefix
        self._loop = LoopThread("rate-limiter-test")
        self._client = AsyncRedis.from_url(REDIS_URL, protocol=protocol)
        self._limiter = AsyncRedisRateLimiter(self._client, prefix=prefix)

    def hit(self, key: str, rate: Rate) -> Decision:
        return self._loop.submit(self._limiter.hit(key, rate)).result(timeout=10)

    def close(self) -> None:
        self._loop.submit(self._client.aclose()).result(timeout=10)
        self._loop.close(join_seconds=5)


@contextmanager
def redis_on_a_loop(protocol: int) -> Iterator[RedisOnALoop]:
    with scratch_prefix() as prefix:
        limiter = RedisOnALoop(protocol, prefix)
        try:
            yield limiter
        finally:
            limiter.close()


@pytest.fixture
def redis_limiter(request: pytest.FixtureRequest) -> Iterator[RedisOnALoop]:
    with redis_on_a_loop(getattr(request, "param", 3)) as limiter:
        yield limiter


@pytest.fixture(params=["in-process", "redis-resp2", "redis-resp3"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "in-process":
        yield InProcessRateLimiter()
        return
    with redis_on_a_loop(2 if request.param == "redis-resp2" else 3) as on_a_loop:
        yield on_a_loop


def a_key() -> str:
    return f"user-{uuid4().hex[:8]}:route"


def allowed_again(limiter: RateLimiter, key: str, rate: Rate, within: float = 3.0) -> float:
    """Hits `key` until allowed (refused hits cost nothing); when, on the monotonic clock."""
    deadline = time.monotonic() + within
    while not limiter.hit(key, rate).allowed:
        assert time.monotonic() < deadline, f"not allowed again within {within} s"
    return time.monotonic()


def test_concurrent_hits_let_through_exactly_the_limit(limiter: RateLimiter) -> None:
    key, rate = a_key(), Rate(100, 60)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=48) as pool:
        decisions = list(pool.map(lambda _: limiter.hit(key, rate), range(1_000)))
    elapsed = time.monotonic() - started

    allowed = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    print(
        f"{type(limiter).__name__}: {len(allowed)} allowed, {len(refused)} refused "
        f"of 1000 hits from 48 threads in {elapsed * 1000:.0f} ms"
    )
    assert elapsed < 60, "the first hits left the window before the last were made"
    assert (len(allowed), len(refused)) == (100, 900)
    assert sorted(d.remaining for d in allowed) == list(range(100))
    assert all(60 - elapsed - 1 < d.retry_after_seconds <= 60 for d in refused)
    assert all(d.remaining == 0 for d in refused)


def test_the_limit_then_a_refusal_until_the_oldest_leaves(limiter: RateLimiter) -> None:
    key, rate = a_key(), Rate(3, 60)

    allowed = [limiter.hit(key, rate) for _ in range(3)]
    refused = limiter.hit(key, rate)

    assert allowed == [Decision(True, 0.0, 2), Decision(True, 0.0, 1), Decision(True, 0.0, 0)]
    assert not refused.allowed
    assert 59 < refused.retry_after_seconds <= 60
    assert refused.remaining == 0


def test_keys_are_limited_independently(limiter: RateLimiter) -> None:
    rate = Rate(2, 60)
    asha, ravi = a_key(), a_key()

    assert [limiter.hit(asha, rate).allowed for _ in range(3)] == [True, True, False]
    assert [limiter.hit(ravi, rate).allowed for _ in range(3)] == [True, True, False]


def test_a_refused_key_is_allowed_again_once_its_retry_after_has_passed(
    limiter: RateLimiter,
) -> None:
    key, rate = a_key(), Rate(1, 0.05)
    assert limiter.hit(key, rate).allowed
    refused = limiter.hit(key, rate)
    refused_at = time.monotonic()
    assert not refused.allowed

    allowed_at = allowed_again(limiter, key, rate)

    assert allowed_at - refused_at >= refused.retry_after_seconds - CLOCKS_APART


def test_the_window_slides_each_place_frees_when_its_request_leaves(limiter: RateLimiter) -> None:
    key, rate = a_key(), Rate(2, 1.0)
    first_at = time.monotonic()
    assert limiter.hit(key, rate).allowed
    time.sleep(0.1)  # the time between the two requests is what this test is about
    assert limiter.hit(key, rate).allowed
    refused = limiter.hit(key, rate)
    assert not refused.allowed
    assert 0 < refused.retry_after_seconds <= 0.9 + CLOCKS_APART

    third_at = allowed_again(limiter, key, rate)  # the first left: one place
    assert third_at - first_at >= 1.0 - CLOCKS_APART
    assert not limiter.hit(key, rate).allowed  # and only one
    fourth_at = allowed_again(limiter, key, rate)  # the second left

    assert fourth_at - third_at < 0.5, "the second place came a period after the first"


def test_a_lowered_rate_waits_until_its_window_has_room(limiter: RateLimiter) -> None:
    key = a_key()
    for _ in range(3):  # 0.2 s apart
        newest_at = time.monotonic()
        assert limiter.hit(key, Rate(3, 2.0)).allowed
        time.sleep(0.2)

    refused = limiter.hit(key, Rate(1, 2.0))
    since_newest = time.monotonic() - newest_at

    assert not refused.allowed  # until the newest of the three leaves, not the oldest (< 1.4 s)
    assert 2.0 - since_newest - CLOCKS_APART <= refused.retry_after_seconds <= 1.8 + CLOCKS_APART


@pytest.mark.parametrize(("redis_client", "redis_limiter"), [(2, 2), (3, 3)], indirect=True)
def test_redis_holds_one_member_per_allowed_hit_and_expires_with_the_window(
    redis_limiter: RedisOnALoop, redis_client: Redis
) -> None:
    key, rate = a_key(), Rate(100, 60)
    with ThreadPoolExecutor(max_workers=48) as pool:
        list(pool.map(lambda _: redis_limiter.hit(key, rate), range(150)))
    assert not redis_limiter.hit(key, rate).allowed

    stored = redis_limiter.prefix + key
    assert redis_client.zcard(stored) == 100
    assert 59_000 < redis_client.pttl(stored) <= 60_000


@pytest.mark.parametrize(("redis_client", "redis_limiter"), [(2, 2), (3, 3)], indirect=True)
def test_a_refused_hit_writes_nothing_to_redis(
    redis_limiter: RedisOnALoop, redis_client: Redis
) -> None:
    key, rate = a_key(), Rate(1, 60)
    redis_limiter.hit(key, rate)
    stored = redis_limiter.prefix + key
    members = redis_client.zrange(stored, 0, -1, withscores=True)
    ttl_ms = redis_client.pttl(stored)

    assert not redis_limiter.hit(key, rate).allowed
    assert redis_client.zrange(stored, 0, -1, withscores=True) == members
    assert redis_client.pttl(stored) <= ttl_ms


@pytest.mark.parametrize(("redis_client", "redis_limiter"), [(2, 2), (3, 3)], indirect=True)
def test_a_redis_key_vanishes_once_its_newest_hit_has_left_the_window(
    redis_limiter: RedisOnALoop, redis_client: Redis
) -> None:
    key, rate = a_key(), Rate(2, 0.05)
    redis_limiter.hit(key, rate)
    redis_limiter.hit(key, rate)
    stored = redis_limiter.prefix + key

    deadline = time.monotonic() + 2
    while redis_client.exists(stored):  # Redis expires keys itself: poll it, with a deadline
        assert time.monotonic() < deadline, "the key outlived its window"
    assert redis_limiter.hit(key, rate) == Decision(True, 0.0, 1)
