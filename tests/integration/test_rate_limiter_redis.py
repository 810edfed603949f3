"""One contract for every rate limiter, on real time: in-process, and Redis on this machine
(over RESP2 and RESP3). No Redis is a failure, never a skip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from redis import Redis

from adapters.memory_rate_limiter import InProcessRateLimiter
from adapters.redis_rate_limiter import RedisRateLimiter
from application.rate_limits import Decision, Rate, RateLimiter
from tests.redis_server import REDIS_URL, scratch_prefix


@pytest.fixture
def redis_client(request: pytest.FixtureRequest) -> Iterator[Redis]:
    protocol = getattr(request, "param", 3)
    client = Redis.from_url(REDIS_URL, protocol=protocol)
    yield client
    client.close()


@pytest.fixture
def redis_limiter(redis_client: Redis) -> Iterator[RedisRateLimiter]:
    with scratch_prefix() as prefix:
        yield RedisRateLimiter(redis_client, prefix=prefix)


@pytest.fixture(params=["in-process", "redis-resp2", "redis-resp3"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "in-process":
        yield InProcessRateLimiter()
        return
    client = Redis.from_url(REDIS_URL, protocol=2 if request.param == "redis-resp2" else 3)
    with scratch_prefix() as prefix:
        yield RedisRateLimiter(client, prefix=prefix)
    client.close()


def a_key() -> str:
    return f"user-{uuid4().hex[:8]}:route"


def test_concurrent_hits_let_through_exactly_one_burst(limiter: RateLimiter) -> None:
    # 100 per hour rather than per minute: a refill every 36 s instead of every 0.6 s, so the
    # count is exact however slowly this machine serves 1,000 round trips (0.3-0.5 s here).
    key, rate = a_key(), Rate(100, 3_600)
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
    assert elapsed < rate.interval_us / 1_000_000, "a refill came before the hits were done"
    assert (len(allowed), len(refused)) == (100, 900)
    assert sorted(d.remaining for d in allowed) == list(range(100))
    assert all(0 < d.retry_after_seconds <= 36 and d.remaining == 0 for d in refused)


def test_a_burst_then_a_refusal_saying_when_to_retry(limiter: RateLimiter) -> None:
    key, rate = a_key(), Rate(3, 60)

    burst = [limiter.hit(key, rate) for _ in range(3)]
    refused = limiter.hit(key, rate)

    assert burst == [Decision(True, 0.0, 2), Decision(True, 0.0, 1), Decision(True, 0.0, 0)]
    assert not refused.allowed
    assert 19 < refused.retry_after_seconds <= 20


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

    deadline = refused_at + 2
    while not (decision := limiter.hit(key, rate)).allowed:  # refused hits cost nothing: poll
        assert time.monotonic() < deadline, "never allowed again"

    assert decision.allowed
    assert time.monotonic() - refused_at >= refused.retry_after_seconds - 0.005


@pytest.mark.parametrize("redis_client", [2, 3], indirect=True)
def test_redis_keys_expire_when_the_key_is_idle_again(
    redis_limiter: RedisRateLimiter, redis_client: Redis
) -> None:
    key, rate = a_key(), Rate(100, 60)
    for _ in range(100):
        redis_limiter.hit(key, rate)
    assert not redis_limiter.hit(key, rate).allowed

    ttl_ms = redis_client.pttl(redis_limiter.prefix + key)

    assert 59_000 < ttl_ms <= 60_000


@pytest.mark.parametrize("redis_client", [2, 3], indirect=True)
def test_a_refused_hit_writes_nothing_to_redis(
    redis_limiter: RedisRateLimiter, redis_client: Redis
) -> None:
    key, rate = a_key(), Rate(1, 60)
    redis_limiter.hit(key, rate)
    stored = redis_client.get(redis_limiter.prefix + key)

    assert not redis_limiter.hit(key, rate).allowed
    assert redis_client.get(redis_limiter.prefix + key) == stored
