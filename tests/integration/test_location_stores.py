"""One contract for every location store: in-process, and Redis on this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from redis import Redis

from adapters.memory_locations import InProcessLocationStore
from adapters.redis_locations import RedisLocationStore
from application.locations import CourierPosition, LocationStore
from domain.values import Location

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["in-process", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[LocationStore]:
    if request.param == "in-process":
        yield InProcessLocationStore()
        return
    client = Redis.from_url(REDIS_URL)
    client.ping()  # no Redis is a failure, not a skip
    prefix = f"test:{uuid4().hex}:"
    yield RedisLocationStore(client, prefix=prefix)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_latest_ping_of_each_courier_is_kept(store: LocationStore) -> None:
    store.record(CourierPosition("ravi", Location(12.97, 77.59), at(0)))
    store.record(CourierPosition("ravi", Location(12.98, 77.60), at(5)))
    store.record(CourierPosition("asha", Location(12.90, 77.50), at(1)))

    latest = store.latest(["ravi", "asha", "nobody"])

    assert latest == {
        "ravi": CourierPosition("ravi", Location(12.98, 77.60), at(5)),
        "asha": CourierPosition("asha", Location(12.90, 77.50), at(1)),
    }


def test_a_late_arriving_older_ping_never_moves_a_courier_back(store: LocationStore) -> None:
    store.record(CourierPosition("ravi", Location(12.98, 77.60), at(10)))
    store.record(CourierPosition("ravi", Location(10.0, 70.0), at(9.999)))

    assert store.latest(["ravi"])["ravi"].location == Location(12.98, 77.60)


def test_concurrent_pings_leave_the_newest(store: LocationStore) -> None:
    pings = [CourierPosition("ravi", Location(12.0 + n / 1000, 77.0), at(n)) for n in range(200)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(store.record, reversed(pings)))

    assert store.latest(["ravi"])["ravi"] == pings[-1]
