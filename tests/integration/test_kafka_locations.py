"""Courier pings through Kafka (librdkafka's mock cluster): the API's feed hands them to the
producer without waiting, the ``courier-locations`` consumer applies them to the location
store and commits after applying, an older ping never moves a courier back, and a full
buffer drops pings and counts them instead of blocking the request."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema_rs
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from adapters.kafka_locations import PINGS_DROPPED, LocationConsumer, LocationFeed, LocationsLag
from adapters.kafka_publisher import KafkaConnection, KafkaPublisher
from application.integration_events import LOCATION_TYPE, LOCATIONS_TOPIC, location_data
from application.locations import CourierPosition
from application.settings import load_settings
from bench.kafka_mock import MockKafka
from domain.values import Location
from tests.polling import Seen, poll_until
from wiring.bootstrap import Tiffin, bootstrap, kafka_connection

PREFIX = "pings."
PARTITIONS = 3
WITHIN_SECONDS = 20.0
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def kafka() -> Iterator[MockKafka]:
    with MockKafka(brokers=1) as cluster:
        cluster.create_topic(PREFIX + LOCATIONS_TOPIC, partitions=PARTITIONS)
        yield cluster


@pytest.fixture
def tiffin(tmp_path: Path, kafka: MockKafka) -> Iterator[Tiffin]:
    environ = {
        "TIFFIN_DATA_DIR": str(tmp_path),
        "TIFFIN_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TIFFIN_KAFKA_TOPIC_PREFIX": PREFIX,
        "TIFFIN_KAFKA_PUBLISH_TIMEOUT_SECONDS": "3",
    }
    with bootstrap(load_settings(environ)) as platform:
        yield platform


def ping(courier: str, seconds: int, lat: float) -> CourierPosition:
    return CourierPosition(courier, Location(lat, 77.59), T0 + timedelta(seconds=seconds))


def consume(consumer: LocationConsumer, count: int) -> None:
    """Runs the consumer until it has applied ``count`` pings (bounded)."""
    applied = [0]

    def look(seen: Seen) -> bool | None:
        applied[0] += consumer.run_once()
        seen.last = applied[0]
        return True if applied[0] >= count else None

    poll_until(look, within=WITHIN_SECONDS, what=f"{count} pings applied", every=0.0)
    assert applied[0] == count


def test_pings_reach_the_store_through_the_topic_and_an_older_one_changes_nothing(
    tiffin: Tiffin,
) -> None:
    feed = LocationFeed(tiffin.locations, tiffin.kafka_publisher())
    consumer = tiffin.location_consumer()
    for courier in ("c1", "c2"):
        for second in range(5):
            feed.record(ping(courier, second, 12.90 + second / 100))
    feed.record(ping("c1", 2, 13.50))  # late: older than c1's newest

    assert feed.latest(["c1", "c2"]) == {}, "the feed itself writes nothing to the store"
    consume(consumer, 11)

    held = {c: p.location.lat for c, p in tiffin.locations.latest(["c1", "c2"]).items()}
    assert held == {"c1": 12.94, "c2": 12.94}, "the late, older ping moved nobody back"
    assert consumer.run_once() == 0
    assert sum(committed(tiffin, consumer.group, consumer.topic).values()) == 11


def committed(tiffin: Tiffin, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of the topic, as the cluster keeps it."""

    async def read() -> dict[int, int]:
        reader = AIOKafkaConsumer(
            **kafka_connection(tiffin.settings).client_options(),
            group_id=group,
            enable_auto_commit=False,
        )
        await reader.start()
        try:
            offsets = {
                p: await reader.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)
            }
        finally:
            await reader.stop()
        return {p: offset or 0 for p, offset in offsets.items()}

    return asyncio.run(read())


def test_a_full_buffer_drops_pings_and_counts_them_without_waiting(tiffin: Tiffin) -> None:
    with socket.socket() as silent:  # a "broker" that takes connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        host, port = silent.getsockname()
        stuck = KafkaConnection(f"{host}:{port}")
        publisher = KafkaPublisher(stuck, PREFIX, timeout_seconds=1.0, max_pending=5)
        feed = LocationFeed(tiffin.locations, publisher)
        dropped_before = PINGS_DROPPED._value.get()
        try:
            for second in range(50):
                feed.record(ping("c9", second, 12.9))
            dropped = PINGS_DROPPED._value.get() - dropped_before
        finally:
            publisher.close()

    assert dropped == 45, "5 on their way, the other 45 dropped and counted"


def test_the_consumer_lag_metric_counts_pings_not_committed_yet(tiffin: Tiffin) -> None:
    lag = LocationsLag(kafka_connection(tiffin.settings), PREFIX, every_seconds=0)
    feed = LocationFeed(tiffin.locations, tiffin.kafka_publisher())
    for second in range(7):
        feed.record(ping("c3", second, 12.9))

    def value() -> float | None:
        return next((m.samples[0].value for m in lag.collect()), None)

    def look(seen: Seen) -> bool | None:  # the pings are sent in the background
        seen.last = value()
        return True if seen.last == 7 else None

    poll_until(look, within=WITHIN_SECONDS, what="a lag of 7", every=0.05)
    consume(tiffin.location_consumer(), 7)
    assert value() == 0


def test_closing_the_producer_sends_what_it_holds_first(tiffin: Tiffin) -> None:
    """What SIGTERM does (the platform closes its producer): pings handed over just before are
    flushed, not lost."""
    publisher = KafkaPublisher(kafka_connection(tiffin.settings), PREFIX, timeout_seconds=10)
    feed = LocationFeed(tiffin.locations, publisher)
    for second in range(100):
        feed.record(ping("c7", second, 12.9 + second / 1000))
    publisher.close()

    consume(tiffin.location_consumer(), 100)
    assert tiffin.locations.latest(["c7"])["c7"].location.lat == 12.999


def test_a_ping_is_what_its_checked_in_schema_says() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "events"
    schema = json.loads((docs / f"{LOCATION_TYPE}.json").read_text())

    jsonschema_rs.validator_for(schema).validate(location_data("courier-1", 12.97, 77.59))
