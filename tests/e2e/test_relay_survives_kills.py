"""The Kafka relay under crashes: its worker (`tiffin worker --only kafka-relay`, server mode)
is SIGKILLed 20 times while orders keep being placed, and the brokers (librdkafka's mock
cluster, over TCP) are taken down and brought back once in the middle. Afterwards every public
event of every log is on its topic; any duplicate carries the same id as its original, so a
consumer that dedupes by id sees exactly the logs, in log order per aggregate."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from pathlib import Path

from application.integration_events import CONTEXT_TOPICS
from bench.kafka_mock import MockKafka
from domain.values import Role
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.integration.test_kafka_relay import consumed, public_events
from tests.polling import Seen, poll_until
from tests.scenario import Kitchen, cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap
from wiring.workers import projector

KILLS = 20
ORDERS_PER_KILL = 3
PREFIX = "test."
CATCH_UP_SECONDS = 60


def test_every_event_is_published_after_the_relay_is_killed_again_and_again(
    postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20261203)
    with MockKafka(brokers=1) as kafka:
        for topic in CONTEXT_TOPICS:
            kafka.create_topic(PREFIX + topic, partitions=3)
        environ = worker_environ(
            postgres_url,
            tmp_path / "var",
            TIFFIN_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
            TIFFIN_KAFKA_TOPIC_PREFIX=PREFIX,
            TIFFIN_KAFKA_PUBLISH_TIMEOUT_SECONDS="2",
            TIFFIN_WORKER_POLL_SECONDS="0.05",
            TIFFIN_SIMULATED_CAPTURE_SECONDS="-1",
        )
        workers = Workers(environ, tmp_path / "workers", only=["kafka-relay"])
        with bootstrap(settings_of(environ)) as tiffin:
            kitchen = open_kitchen(tiffin)
            workers.start()
            try:
                placed = kill_while_placing(tiffin, kitchen, workers, kafka, rng)
                relay_caught_up(tiffin, workers)
            finally:
                workers.stop()
            expected = public_events(tiffin)
            messages = consumed(kafka, len(expected))

    ids = [m["id"] for m in messages]
    duplicates = len(ids) - len(set(ids))
    print(
        f"\nrelay killed {workers.kills} times, brokers down once: {placed} orders,"
        f" {len(expected)} events, {len(messages)} messages read, {duplicates} duplicates"
    )
    assert workers.kills == KILLS
    assert set(ids) == {e[0] for e in expected}, "every event, and nothing else"
    by_id = {m["id"]: m for m in messages}
    assert all(by_id[m["id"]] == m for m in messages), "a duplicate is its original, again"
    first_seen: dict[str, list[str]] = defaultdict(list)
    for message in messages:  # deduped by id, in the order each partition holds them
        if message["id"] not in first_seen[message["_key"]]:
            first_seen[message["_key"]].append(message["id"])
    for key, seen in first_seen.items():
        assert seen == [e[0] for e in expected if e[2] == key], key


def kill_while_placing(
    tiffin: Tiffin, kitchen: Kitchen, workers: Workers, kafka: MockKafka, rng: random.Random
) -> int:
    """Places orders while the relay's worker is SIGKILLed ``KILLS`` times at random moments
    (some in its start-up, some while it publishes), the brokers down for one stretch."""
    placed = 0
    for kill in range(KILLS):
        for _ in range(ORDERS_PER_KILL):
            place(tiffin, kitchen, cause(Role.CUSTOMER))
            placed += 1
        if kill == KILLS // 2:
            kafka.set_down()
        if kill == KILLS // 2 + 2:
            kafka.set_up()
        if rng.random() < 0.7:
            workers.wait_running(workers.newest, timeout=30)
        threading.Event().wait(rng.uniform(0, 0.4))  # the moment of the kill
        workers.kill(workers.newest)
    return placed


def relay_caught_up(tiffin: Tiffin, workers: Workers) -> None:
    """Waits (polling the stored positions) until the last worker has published every log."""
    relay = projector(tiffin, tiffin.views(), "kafka-relay")

    def look(seen: Seen) -> bool | None:
        lags = relay.lag(time.time())
        seen.last = [(lag.leader, lag.events) for lag in lags]
        return True if all(lag.events == 0 for lag in lags) else None

    poll_until(look, within=CATCH_UP_SECONDS, what=f"the relay catching up; see {workers.logs}")
