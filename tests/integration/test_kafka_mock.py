"""aiokafka against librdkafka's mock cluster over TCP: the test broker itself is proved here.

An idempotent producer and a consumer group round-trip keyed messages in per-key order, and a
send made while every broker is down waits, then is delivered once the brokers are back.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from bench.kafka_mock import MockKafka

TOPIC = "orders"
PARTITIONS = 3
KEYS = 10
MESSAGES_PER_KEY = 10
OUTAGE_PROBE_SECONDS = 1.0  # a send must still be pending this long after the brokers go down
WITHIN_SECONDS = 15.0  # the bound on every wait that is expected to succeed


@pytest.fixture
def kafka() -> Iterator[MockKafka]:
    with MockKafka(brokers=3) as cluster:
        cluster.create_topic(TOPIC, partitions=PARTITIONS, replication=3)
        yield cluster


def idempotent_producer(kafka: MockKafka) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True, acks="all"
    )


def group_consumer(kafka: MockKafka) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id="kafka-mock-test",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def consumed(kafka: MockKafka, count: int) -> list[ConsumerRecord]:
    """Exactly ``count`` records, read by a new member of the test's group."""
    consumer = group_consumer(kafka)
    async with asyncio.timeout(WITHIN_SECONDS):
        await consumer.start()
    try:
        return await read_exactly(consumer, count)
    finally:
        await consumer.stop()


async def read_exactly(consumer: AIOKafkaConsumer, count: int) -> list[ConsumerRecord]:
    """Exactly `count` records (a failure if they take longer than WITHIN_SECONDS)."""
    records: list[ConsumerRecord] = []
    async with asyncio.timeout(WITHIN_SECONDS):
        while len(records) < count:
            batches = await consumer.getmany(timeout_ms=200)
            for partition_records in batches.values():
                records.extend(partition_records)
    assert len(records) == count
    return records


def test_idempotent_producer_and_consumer_group_keep_per_key_order(kafka: MockKafka) -> None:
    sent = {
        f"key-{key}".encode(): [f"{key}:{seq}".encode() for seq in range(MESSAGES_PER_KEY)]
        for key in range(KEYS)
    }

    async def produce_then_consume() -> list[ConsumerRecord]:
        producer = idempotent_producer(kafka)
        async with asyncio.timeout(WITHIN_SECONDS):
            await producer.start()
            try:
                deliveries = [  # the keys interleaved, each key's values in order
                    await producer.send(TOPIC, sent[key][seq], key=key)
                    for seq in range(MESSAGES_PER_KEY)
                    for key in sent
                ]
                await asyncio.gather(*deliveries)
            finally:
                await producer.stop()
        return await consumed(kafka, KEYS * MESSAGES_PER_KEY)

    records = asyncio.run(produce_then_consume())

    received: defaultdict[bytes, list[bytes]] = defaultdict(list)
    partitions_by_key: defaultdict[bytes, set[int]] = defaultdict(set)
    for record in records:
        assert record.key is not None
        assert record.value is not None
        received[record.key].append(record.value)
        partitions_by_key[record.key].add(record.partition)
    assert received == sent
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())
    assert len({record.partition for record in records}) > 1  # the keys spread over partitions


def test_a_send_waits_out_a_broker_outage_and_is_delivered_after(kafka: MockKafka) -> None:
    async def send_across_an_outage() -> list[ConsumerRecord]:
        producer = idempotent_producer(kafka)
        async with asyncio.timeout(WITHIN_SECONDS):
            await producer.start()
        try:
            kafka.set_down()
            delivery = asyncio.ensure_future(
                producer.send_and_wait(TOPIC, b"sent during the outage", key=b"outage")
            )
            done, _ = await asyncio.wait({delivery}, timeout=OUTAGE_PROBE_SECONDS)
            assert not done, f"a send completed while every broker was down: {delivery}"
            kafka.set_up()
            await asyncio.wait_for(delivery, WITHIN_SECONDS)  # the producer's own retry
        finally:
            await producer.stop()
        return await consumed(kafka, 1)

    records = asyncio.run(send_across_an_outage())

    assert [(record.key, record.value) for record in records] == [
        (b"outage", b"sent during the outage")
    ]
