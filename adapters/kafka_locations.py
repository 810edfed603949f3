"""Courier location pings through Kafka (when it is configured).

The API's ``LocationFeed`` hands each ping to the producer and returns at once: at most
``max_pending`` pings are on their way, and one more is dropped and counted
(``tiffin_location_pings_dropped_total``) rather than making the courier's request wait. Reads
of positions still go to the location store.

The ``courier-locations`` worker component (``LocationConsumer``) reads the topic in a consumer
group, applies each ping to the location store (which keeps a courier's newest position and
ignores an older one) and commits the offsets only after applying them: a consumer killed
before its commit reads those pings again, and applying them twice changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from adapters.kafka_publisher import BrokerUnavailable, KafkaConnection, KafkaPublisher, started
from adapters.loop_thread import LoopThread
from application.integration_events import (
    LOCATION_TYPE,
    LOCATIONS_TOPIC,
    SCHEMA_URN,
    IntegrationEvent,
    location_data,
)
from application.locations import CourierPosition, LocationStore
from domain.values import Location

NAME = "courier-locations"
PINGS_DROPPED = Counter(
    "tiffin_location_pings_dropped",
    "Courier location pings dropped: the Kafka producer's buffer was full, or the cluster"
    " could not be reached to send them",
)
BATCH = 500


def locations_topic_and_group(topic_prefix: str) -> tuple[str, str]:
    """The pings' topic, and the consumer group that applies them."""
    return topic_prefix + LOCATIONS_TOPIC, f"{topic_prefix}locations"


class LocationFeed:
    """A ``LocationStore`` for the API: pings to Kafka, reads from the store."""

    def __init__(self, store: LocationStore, publisher: KafkaPublisher) -> None:
        self.store = store
        self.publisher = publisher

    def record(self, position: CourierPosition) -> None:
        if not self.publisher.offer(_ping_event(position), lost=PINGS_DROPPED.inc):
            PINGS_DROPPED.inc()

    def latest(self, courier_ids: Iterable[str]) -> dict[str, CourierPosition]:
        return self.store.latest(courier_ids)


def _ping_event(position: CourierPosition) -> IntegrationEvent:
    micros = int(position.at.timestamp() * 1_000_000)
    return IntegrationEvent(
        id=f"{LOCATIONS_TOPIC}:{position.courier_id}:{micros}",
        source="/tiffin/api",
        type=LOCATION_TYPE,
        topic=LOCATIONS_TOPIC,
        subject=position.courier_id,
        time=position.at,
        dataschema=SCHEMA_URN + LOCATION_TYPE,
        data=location_data(position.courier_id, position.location.lat, position.location.lng),
        correlation_id=f"ping:{position.courier_id}:{micros}",
        actor=position.courier_id,
        actor_role="courier",
    )


class LocationConsumer:
    """The ``courier-locations`` component: applies pings, then commits their offsets."""

    name = NAME
    transient: tuple[type[BaseException], ...] = (BrokerUnavailable,)

    def __init__(
        self,
        connection: KafkaConnection,
        topic_prefix: str,
        store: LocationStore,
        wait_ms: int = 100,
    ) -> None:
        self.connection = connection
        self.topic, self.group = locations_topic_and_group(topic_prefix)
        self.store = store
        self.wait_ms = wait_ms
        self._loop = LoopThread("kafka-locations")
        self._consumer: AIOKafkaConsumer | None = None

    def run_once(self) -> int:
        """Applies the pings waiting now (a batch at most); how many."""
        return self._loop.submit(self._apply_batch()).result()

    async def _apply_batch(self) -> int:
        consumer = await self._started()
        try:
            batches = await consumer.getmany(timeout_ms=self.wait_ms, max_records=BATCH)
            records = [record for batch in batches.values() for record in batch]
            for record in records:
                self.store.record(_position(json.loads(record.value)))
            if records:
                await consumer.commit()
        except KafkaError as error:
            await self._stop()
            raise BrokerUnavailable(f"Kafka: {error!r}") from error
        return len(records)

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                self.topic,
                **self.connection.client_options(),
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            self._consumer = await started(consumer)
        return self._consumer

    async def _stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def close(self) -> None:
        if self._loop.closed:
            return
        self._loop.submit(self._stop()).result(timeout=30)
        self._loop.close(30)


def _position(envelope: dict[str, Any]) -> CourierPosition:
    data = envelope["data"]
    at = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")).astimezone(UTC)
    return CourierPosition(data["courier_id"], Location(data["lat"], data["lng"]), at)


class LocationsLag:
    """``tiffin_location_consumer_lag``: pings on the topic that the ``courier-locations``
    group has not committed yet, asked of the cluster at most every ``every_seconds`` (a
    Prometheus collector of the API's /metrics; nothing when the cluster cannot be reached)."""

    def __init__(
        self, connection: KafkaConnection, topic_prefix: str, every_seconds: float = 10.0
    ) -> None:
        self.connection = connection
        self.topic, self.group = locations_topic_and_group(topic_prefix)
        self.every_seconds = every_seconds
        self._asked_at = -every_seconds
        self._lag: int | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.monotonic()
        if now - self._asked_at >= self.every_seconds:
            self._asked_at = now
            self._lag = self._ask()
        if self._lag is not None:
            yield GaugeMetricFamily(
                "tiffin_location_consumer_lag",
                "Courier pings on the locations topic not yet committed by its consumer group",
                value=self._lag,
            )

    def _ask(self) -> int | None:
        async def lag() -> int:
            options = self.connection.client_options()
            client = AIOKafkaClient(**options)
            try:
                await client.bootstrap()
                metadata = await client.fetch_all_metadata()
            finally:
                await client.close()
            partitions = metadata.partitions_for_topic(self.topic) or set()
            consumer = AIOKafkaConsumer(**options, group_id=self.group, enable_auto_commit=False)
            await consumer.start()
            try:
                parts = [TopicPartition(self.topic, p) for p in sorted(partitions)]
                ends = await consumer.end_offsets(parts)
                done = [await consumer.committed(part) or 0 for part in parts]
            finally:
                await consumer.stop()
            return int(sum(ends[part] for part in parts)) - int(sum(done))

        try:
            return int(asyncio.run(asyncio.wait_for(lag(), 3.0)))
        except (KafkaError, OSError, TimeoutError):
            return None
