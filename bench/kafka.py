"""``tiffin bench kafka`` (``python -m bench kafka``): the integration-events benchmark.

In a scratch database on the local PostgreSQL, against a Kafka cluster (``--bootstrap-servers``,
or else librdkafka's mock cluster on 127.0.0.1: it speaks the Kafka protocol over TCP but keeps
everything in memory, so its figures are the platform's side, not a cluster's), side by side:

(s) seeding: orders through their lifecycle written through the applications;
(a) raw produce: aiokafka's idempotent producer (``acks=all``) sending the very messages the
    relay would send (the same CloudEvents, the same sizes) with ``send()``, 500 at a time (the
    batch the relay reads), waiting for each batch's acknowledgements;
(a2) the same messages through aiokafka's record batches (``create_batch``/``send_batch``), the
    way the relay sends them: what sending alone costs the relay;
(r) reading and decoding the same events from the logs, sending nothing: what every projector
    pays before it does anything, and a bound on (b);
(b) relay: the ``kafka-relay`` component publishing every public event of the logs from
    position 0 (reading, decoding, mapping, enveloping, sending, waiting for the acks, storing
    positions), with its ratio to (a), (a2) and (r);
(c) lag: ``tiffin worker --only kafka-relay`` in a process of its own while a writer process
    issues the applications' commands open-loop at ``--rate`` events/s (``bench.lag``): each
    command's lag from its commit until the relay's stored position covered it, which it moves
    only once the brokers have acknowledged the batch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from application.integration_events import CONTEXT_TOPICS, IntegrationEvent
from application.settings import load_settings
from bench.database import add_server_url, scratch_database
from bench.lag import measure_lag
from bench.projections import DEFAULT_POLL, table
from bench.rebuild import measure_reading
from bench.report import write_json
from bench.seed import seed_orders
from bench.suite import Row
from domain.topics import event_topic
from projections.projector import Projection
from wiring.bootstrap import Tiffin, bootstrap, kafka_message, send_batches
from wiring.workers import KAFKA_RELAY, kafka_relay, leaders_of, projector

PREFIX = "bench."
BATCH = 500
RATIO_TARGET = 0.5
LAG_P99_TARGET_MS = 100.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin bench kafka",
        description="The Kafka relay's rate against aiokafka's raw produce rate of the same "
        "messages, and the lag from commit to consumer at a steady load, in one run.",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--events", type=int, default=30_000, help="(default %(default)s)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s (default 1000)")
    parser.add_argument("--lag-seconds", type=float, default=10.0, help="(default 10)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="of (a), (a2), (r) and (b), medians (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="3,000 events, 3 s at 200/s, 1 round")
    parser.add_argument(
        "--bootstrap-servers", help="a cluster to use (default: librdkafka's mock cluster)"
    )
    add_server_url(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.events, args.rate, args.lag_seconds, args.rounds = 3_000, 200.0, 3.0, 1

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with scratch_database(args.server_url) as database_url, cluster(args) as servers:
        rows = run(args, database_url, servers, say)
    print(table(rows))
    if args.json:
        write_json(rows, args.json, {"cluster": args.bootstrap_servers or "librdkafka mock"})
        say(f"results written to {args.json}")
    return 0


@contextlib.contextmanager
def cluster(args: argparse.Namespace) -> Iterator[str]:
    if args.bootstrap_servers:
        yield args.bootstrap_servers
        return
    from bench.kafka_mock import MockKafka  # only here: confluent-kafka is a dev dependency

    with MockKafka(brokers=1) as mock:
        for prefix in (PREFIX, "raw."):
            for topic in CONTEXT_TOPICS:
                mock.create_topic(prefix + topic, partitions=6)
        yield mock.bootstrap_servers


def run(args: argparse.Namespace, database_url: str, servers: str, say: Any) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="tiffin-bench-") as data_dir:
        settings = load_settings(
            {
                "TIFFIN_DATABASE_URL": database_url,
                "TIFFIN_DATA_DIR": data_dir,
                "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
                "TIFFIN_KAFKA_BOOTSTRAP_SERVERS": servers,
                "TIFFIN_KAFKA_TOPIC_PREFIX": PREFIX,
            }
        )
        with bootstrap(settings) as tiffin:
            say(f"(s) seeding {args.events:,} events ...")
            seeded = seed_orders(tiffin, args.events, say)
            messages = relay_messages(tiffin)
            rounds = [measure_round(tiffin, servers, messages, say, n) for n in range(args.rounds)]
            raw_rate, batched, decoded, relay_rate = (
                statistics.median(r[i] for r in rounds) for i in range(4)
            )
            ratios = [relay / raw for raw, _, _, relay in rounds]
            say(f"(c) lag at {args.rate:,.0f} events/s for {args.lag_seconds:g} s ...")
            kafka = {"TIFFIN_KAFKA_BOOTSTRAP_SERVERS": servers, "TIFFIN_KAFKA_TOPIC_PREFIX": PREFIX}
            lag = measure_lag(
                tiffin, KAFKA_RELAY, args.rate, args.lag_seconds, DEFAULT_POLL, say, environ=kafka
            )
    rows = [
        Row("s", "seed: orders, lifecycles", None, seeded.per_second, "events/s"),
        Row(
            "a",
            "raw produce (aiokafka send())",
            None,
            raw_rate,
            "msgs/s",
            extra={"msgs": len(messages), "rounds": args.rounds},
        ),
        Row("a2", "raw produce (record batches)", None, batched, "msgs/s"),
        Row("r", "read + decode the relay's events", None, decoded, "events/s"),
        Row(
            "b",
            "kafka-relay from position 0",
            None,
            relay_rate,
            "events/s",
            extra={
                "events": len(messages),
                "ratio": round(statistics.median(ratios), 3),
                "ratios": [round(ratio, 3) for ratio in ratios],
                "target": f">={RATIO_TARGET}",
                "of_a2": round(relay_rate / batched, 3),
                "of_r": round(relay_rate / decoded, 3),
            },
        ),
        Row(
            "c",
            "commit -> broker ack lag (worker process)",
            None,
            lag.per_second,
            "events/s",
            lag.percentile(0.50),
            lag.percentile(0.99),
            {
                "max_ms": round(max(lag.lags_ms), 1) if lag.lags_ms else None,
                "ratio": round(lag.per_second / args.rate, 3),
                "commands": lag.commands,
                "errors": lag.errors,
                "uncovered": lag.uncovered,
                "target": f"p99<={LAG_P99_TARGET_MS:g}ms",
            },
        ),
    ]
    return rows


def measure_round(
    tiffin: Tiffin, servers: str, messages: Sequence[tuple[str, Any]], say: Any, number: int
) -> tuple[float, float, float, float]:
    """(a), (a2), (r) and (b) back to back (msgs or events/s): the machine's noise changes
    between rounds, far less within one."""
    say(f"round {number + 1}: (a) raw produce of the relay's messages ...")
    raw_rate = len(messages) / timed(lambda: asyncio.run(produce(servers, messages)))
    say("  (a2) the same through record batches ...")
    batched = len(messages) / timed(lambda: asyncio.run(produce_batches(servers, messages)))
    say("  (r) reading and decoding the same events, nothing sent ...")
    reading = projector(tiffin, tiffin.views(), KAFKA_RELAY)
    decoded = measure_reading(reading.leaders, reading.topics).per_second
    say("  (b) the relay from position 0 ...")
    with tiffin.views().transaction() as run:
        run("DELETE FROM tiffin_projection_positions WHERE projection = ?", (KAFKA_RELAY,))
    relay = kafka_relay(tiffin, tiffin.views())
    published = [0]

    def relay_all() -> None:
        while done := relay.run_once():
            published[0] += done

    seconds = timed(relay_all)  # (before reading the count it makes)
    relay_rate = published[0] / seconds
    if published[0] != len(messages):
        raise RuntimeError(f"the relay published {published[0]} of {len(messages)} events")
    return raw_rate, batched, decoded, relay_rate


def timed(work: Any) -> float:
    began = time.perf_counter()
    work()
    return max(time.perf_counter() - began, 1e-9)


def relay_messages(tiffin: Tiffin) -> list[tuple[str, Any]]:
    """(topic, Kafka message) of every public event of the logs, as the relay makes them."""
    relay = projector(tiffin, tiffin.views(), KAFKA_RELAY)
    events = published_events(tiffin, relay.projection)
    return [("raw." + event.topic, kafka_message(event)) for event in events]


def published_events(tiffin: Tiffin, projection: Projection) -> list[IntegrationEvent]:
    """What the relay's ``projection`` makes of every event of its logs, in each log's order."""
    published: list[IntegrationEvent] = []
    topics = [event_topic(name) for name in projection.appliers]
    for app in leaders_of(tiffin, projection):
        after = 0
        while batch := app.recorder.select_notifications(
            start=after, limit=BATCH, topics=topics, inclusive_of_start=False
        ):
            for notification in batch:
                event = app.mapper.to_domain_event(notification)
                projection.appliers[type(event).__qualname__](published, event)
            after = batch[-1].id
    return published


async def produce(servers: str, messages: Sequence[tuple[str, Any]]) -> None:
    """Sends the messages with an idempotent producer, waiting for the acks of each batch."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for start in range(0, len(messages), BATCH):
            sent = [
                await producer.send(
                    topic, value=m.value, key=m.key.encode(), headers=list(m.headers.items())
                )
                for topic, m in messages[start : start + BATCH]
            ]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def produce_batches(servers: str, messages: Sequence[tuple[str, Any]]) -> None:
    """The same, through record batches (the relay's way of sending)."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for start in range(0, len(messages), BATCH):
            acks = await send_batches(producer, messages[start : start + BATCH], 1_048_576)
            await asyncio.gather(*acks)
    finally:
        await producer.stop()
