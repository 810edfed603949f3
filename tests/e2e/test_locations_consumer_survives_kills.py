"""The ``courier-locations`` consumer group under crashes: its worker (server mode, Redis for
the location store) is SIGKILLed again and again while couriers' pings flow through Kafka
(librdkafka's mock cluster). No courier is ever seen moving back in time, every courier ends
at their newest ping, and the group's commits account for every ping: none applied and left
uncommitted for good, none skipped."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.kafka_locations import LocationFeed
from application.integration_events import LOCATIONS_TOPIC
from application.locations import CourierPosition
from bench.kafka_mock import MockKafka
from domain.values import Location
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.integration.test_kafka_locations import PARTITIONS, committed
from tests.polling import Seen, poll_until
from tests.redis_server import REDIS_URL, scratch_prefix
from wiring.bootstrap import Tiffin, bootstrap

KILLS = 10
COURIERS = [f"courier-{n}" for n in range(5)]
PINGS_PER_ROUND = 40
PREFIX = "kills."
WITHIN_SECONDS = 60
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_pings_survive_the_consumer_killed_and_no_courier_moves_back(
    postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(1203)
    with MockKafka(brokers=1) as kafka, scratch_prefix() as redis_prefix:
        kafka.create_topic(PREFIX + LOCATIONS_TOPIC, partitions=PARTITIONS)
        environ = worker_environ(
            postgres_url,
            tmp_path / "var",
            TIFFIN_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
            TIFFIN_KAFKA_TOPIC_PREFIX=PREFIX,
            TIFFIN_REDIS_URL=REDIS_URL,
            TIFFIN_REDIS_PREFIX=redis_prefix,
            TIFFIN_WORKER_POLL_SECONDS="0.05",
        )
        workers = Workers(environ, tmp_path / "workers", only=["courier-locations"])
        with bootstrap(settings_of(environ)) as tiffin:
            feed = LocationFeed(tiffin.locations, tiffin.kafka_publisher())
            workers.start()
            try:
                sent, regressions = ping_while_killing(tiffin, feed, workers, rng)
                newest = {c: 12.0 + sent / 10_000 for c in COURIERS}
                settled(tiffin, workers, newest)
                commits = all_committed(tiffin, sent * len(COURIERS))
            finally:
                workers.stop()

    print(
        f"\nlocations consumer killed {workers.kills} times: {sent * len(COURIERS)} pings,"
        f" committed {sum(commits.values())}, {regressions} backward moves seen"
    )
    assert workers.kills == KILLS
    assert regressions == 0
    assert sum(commits.values()) == sent * len(COURIERS)


def ping_while_killing(
    tiffin: Tiffin, feed: LocationFeed, workers: Workers, rng: random.Random
) -> tuple[int, int]:
    """Sends rounds of pings (each courier a little further north, a second later each time)
    and SIGKILLs the consumer's worker after each round; watches that no courier's known
    position ever goes back. Returns the pings per courier, and the regressions seen."""
    sent, regressions = 0, 0
    last_seen: dict[str, datetime] = {}
    for _ in range(KILLS):
        for _ in range(PINGS_PER_ROUND):
            sent += 1
            for courier in COURIERS:
                at = T0 + timedelta(seconds=sent)
                feed.record(CourierPosition(courier, Location(12.0 + sent / 10_000, 77.6), at))
        for courier, position in tiffin.locations.latest(COURIERS).items():
            if position.at < last_seen.get(courier, position.at):
                regressions += 1
            last_seen[courier] = position.at
        if rng.random() < 0.7:
            workers.wait_running(workers.newest, timeout=30)
        threading.Event().wait(rng.uniform(0, 0.3))  # the moment of the kill
        workers.kill(workers.newest)
    return sent, regressions


def settled(tiffin: Tiffin, workers: Workers, newest: dict[str, float]) -> None:
    """Waits (polling the store) until every courier is at their newest ping."""

    def look(seen: Seen) -> bool | None:
        held = {c: p.location.lat for c, p in tiffin.locations.latest(COURIERS).items()}
        seen.last = (time.monotonic(), held)
        return True if held == newest else None

    poll_until(look, within=WITHIN_SECONDS, what=f"the newest pings applied; see {workers.logs}")


def all_committed(tiffin: Tiffin, pings: int) -> dict[int, int]:
    """Waits (polling the group's offsets) until the commits account for ``pings``."""

    def look(seen: Seen) -> dict[int, int] | None:
        offsets = committed(tiffin, f"{PREFIX}locations", PREFIX + LOCATIONS_TOPIC)
        seen.last = offsets
        return offsets if sum(offsets.values()) >= pings else None

    found: dict[int, int] = poll_until(look, within=WITHIN_SECONDS, what=f"{pings} committed")
    return found
