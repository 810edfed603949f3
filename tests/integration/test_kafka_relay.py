"""The Kafka relay over the real wire protocol (librdkafka's mock cluster, bench/kafka_mock.py):
every public event of every log reaches its context's topic as a CloudEvent, once, in log
order per aggregate, valid against its schema; a broker outage loses nothing and the relay
resumes from its stored position."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from cloudevents.core.bindings.kafka import KafkaMessage, from_structured
from cloudevents.core.formats.json import JSONFormat

from adapters.kafka_publisher import KafkaPublisher, cluster_report
from adapters.kafka_relay import RelayWriter, relay_projection
from application.backoff import BackingOff
from application.integration_docs import documents
from application.integration_events import (
    CONTEXT_TOPICS,
    CONTRACTS,
    Contract,
    Data,
)
from application.settings import load_settings
from bench.kafka import published_events
from bench.kafka_mock import MockKafka
from cli.main import main
from domain.values import Role
from projections.projector import Projector
from tests.scenario import cause, courier_on_shift, delivered_and_cancelled, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap, kafka_connection, kafka_topic_plan
from wiring.workers import kafka_relay, leaders_of, projector

PREFIX = "test."
PARTITIONS = 3
WITHIN_SECONDS = 20.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"  # the checked-in contract
SCHEMAS = {
    c.type: jsonschema_rs.validator_for(json.loads((DOCS / f"{c.type}.json").read_text()))
    for c in CONTRACTS
}


TOPICS = {  # partitions: the orders topic has a count of its own
    "TIFFIN_KAFKA_TOPIC_PREFIX": PREFIX,
    "TIFFIN_KAFKA_PARTITIONS": str(PARTITIONS),
    "TIFFIN_KAFKA_TOPIC_PARTITIONS": "orders=5",
}


@pytest.fixture
def kafka() -> Iterator[MockKafka]:
    """The cluster, with the planned topics made (the mock does not take CreateTopics)."""
    with MockKafka(brokers=1) as cluster:
        for planned in kafka_topic_plan(load_settings(TOPICS)):
            cluster.create_topic(planned.name, partitions=planned.partitions)
        yield cluster


@pytest.fixture
def tiffin(tmp_path: Path, kafka: MockKafka) -> Iterator[Tiffin]:
    settings = load_settings(
        {
            "TIFFIN_DATA_DIR": str(tmp_path),
            "TIFFIN_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "TIFFIN_KAFKA_PUBLISH_TIMEOUT_SECONDS": "3",
            "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
            **TOPICS,
        }
    )
    with bootstrap(settings) as platform:
        yield platform


def some_history(tiffin: Tiffin) -> None:
    """Orders down several paths: delivered, cancelled after payment, and one still new."""
    saga = tiffin.runtime(("ordering", "payments", "deliveries", "outbox"))
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    delivered_and_cancelled(tiffin, saga, kitchen, rider)
    place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    saga.stop()


def public_events(
    tiffin: Tiffin, contracts: Sequence[Contract] = CONTRACTS
) -> list[tuple[str, str, str]]:
    """(id, type, subject) of every event the relay should publish, in each log's order."""
    published = published_events(tiffin, relay_projection(contracts))
    return [(event.id, event.type, event.subject) for event in published]


def consumed(kafka: MockKafka, count: int) -> list[dict[str, Any]]:
    """Every CloudEvent on the context topics, read until ``count`` distinct ids have come
    and a further 0.3 s brings nothing (fails past the bound); each with its key, topic and
    partition."""

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            *(PREFIX + topic for topic in CONTEXT_TOPICS),
            bootstrap_servers=kafka.bootstrap_servers,
            group_id="relay-test",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(WITHIN_SECONDS):
                while True:
                    waited = 200 if len({r["id"] for r in records}) < count else 300
                    batches = await consumer.getmany(timeout_ms=waited)
                    if not batches and waited == 300:
                        return records
                    for batch in batches.values():
                        records += [_annotated(record) for record in batch]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _annotated(record: Any) -> dict[str, Any]:
    """The record's CloudEvent, read back by the cloudevents SDK too (it must agree)."""
    envelope: dict[str, Any] = json.loads(record.value)
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    read = from_structured(message, JSONFormat())
    assert read.get_id() == envelope["id"]
    assert read.get_type() == envelope["type"]
    assert read.get_data() == envelope["data"]
    assert read.get_extension("correlationid") == envelope["correlationid"]
    envelope |= {"_key": record.key.decode(), "_topic": record.topic}
    return envelope | {"_partition": record.partition}


def use_settings(tiffin: Tiffin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a `tiffin` command needs to run on this platform (its data, Kafka)."""
    for name, value in tiffin.settings.model_dump().items():
        if name.startswith("kafka_") and value is not None:
            monkeypatch.setenv(f"TIFFIN_{name.upper()}", str(value))
    monkeypatch.setenv("TIFFIN_DATA_DIR", str(tiffin.settings.data_dir))
    monkeypatch.setenv("TIFFIN_SIMULATED_CAPTURE_SECONDS", "-1")


def relay_until_idle(relay: BackingOff) -> int:
    published = 0
    while done := relay.run_once():
        published += done
    return published


def test_every_public_event_is_published_once_in_order_per_aggregate(
    tiffin: Tiffin, kafka: MockKafka
) -> None:
    some_history(tiffin)
    expected = public_events(tiffin)
    relay = kafka_relay(tiffin, tiffin.views())

    published = relay_until_idle(relay)
    messages = consumed(kafka, len(expected))

    print(f"\nrelay: {published} events published, {len(messages)} read back")
    assert len(messages) == len(expected), "each event exactly once"
    assert sorted(m["id"] for m in messages) == sorted(e[0] for e in expected)
    by_key: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        by_key[message["_key"]].append(message["id"])
        assert message["specversion"] == "1.0"
        assert message["subject"] == message["_key"] == message["partitionkey"]
        assert message["source"].startswith("/tiffin/")
        assert message["datacontenttype"] == "application/json"
        assert message["dataschema"].endswith(message["type"])
        assert all(message[name] for name in ("correlationid", "actor", "actorrole"))
        assert message["_topic"] == PREFIX + CONTRACTS_BY_TYPE[message["type"]].topic
        SCHEMAS[message["type"]].validate(message["data"])
        assert "delivery_address" not in json.dumps(message["data"])
    for key, ids in by_key.items():  # one partition per key, in log order
        in_log = [e[0] for e in expected if e[2] == key]
        assert ids == in_log, key
    partitions = {planned.name: planned.partitions for planned in kafka_topic_plan(tiffin.settings)}
    for message in messages:  # where the Java client's partitioner puts it, of the planned count
        key = message["_key"].encode()
        expected_partition = DefaultPartitioner()(
            key, list(range(partitions[message["_topic"]])), []
        )
        assert message["_partition"] == expected_partition, message["id"]
    placed = [m for m in messages if m["type"] == "tiffin.order.placed.v1"]
    assert len(placed) == 3
    assert relay_until_idle(relay) == 0, "a second pass publishes nothing again"


def test_the_checked_in_contract_is_what_the_code_generates() -> None:
    generated = documents()
    checked_in = {path.name: path.read_text() for path in DOCS.glob("*.json")}

    assert sorted(checked_in) == sorted(generated), "run `tiffin events docs`"
    stale = [name for name, text in generated.items() if checked_in[name] != text]
    assert stale == [], f"run `tiffin events docs`: {stale} differ from the code"
    asyncapi = json.loads(checked_in["asyncapi.json"])
    assert asyncapi["asyncapi"] == "3.0.0"
    assert set(asyncapi["channels"]) == {*CONTEXT_TOPICS, "courier-locations"}


def test_a_broker_outage_loses_nothing_and_the_relay_resumes_from_its_position(
    tiffin: Tiffin, kafka: MockKafka
) -> None:
    kitchen = open_kitchen(tiffin)
    relay = kafka_relay(tiffin, tiffin.views())
    relay_until_idle(relay)
    before = len(public_events(tiffin))
    kafka.set_down()
    place(tiffin, kitchen, cause(Role.CUSTOMER))

    with pytest.raises(relay.transient):
        relay.run_once()
    assert relay.failures == 1
    assert "next try in 0.5 s" in str(relay.last_error)
    assert relay.run_once() == 0, "it backs off instead of trying again at once"
    kafka.set_up()
    relay.resume_at = 0.0  # the pause is over (the clock is not waited for)
    published = relay_until_idle(relay)

    expected = public_events(tiffin)
    messages = consumed(kafka, len(expected))
    assert published == len(expected) - before
    assert sorted(m["id"] for m in messages) == sorted(e[0] for e in expected)
    assert relay.failures == 0


CONTRACTS_BY_TYPE = {c.type: c for c in CONTRACTS}


def test_readiness_reports_the_cluster_without_failing_when_it_is_down(
    tiffin: Tiffin, kafka: MockKafka
) -> None:
    connection = kafka_connection(tiffin.settings)

    assert cluster_report(connection) == "1 broker(s) in the cluster's metadata"
    kafka.set_down()
    down = cluster_report(connection, timeout_seconds=1.0)
    kafka.set_up()

    assert down.startswith("unreachable")
    assert "events wait in their logs" in down


@pytest.mark.parametrize("read_limit", [500, 1], ids=["refused-last", "refused-mid-pass"])
def test_a_message_the_cluster_refuses_is_parked_and_published_by_a_retry(
    tiffin: Tiffin,
    kafka: MockKafka,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    read_limit: int,
) -> None:
    """The relay sends a batch ahead: the refusal is found when the next batch is handed over
    (mid-pass), or at the end of the pass; either way only the refused event is parked."""
    place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))  # order.placed: the largest
    projection = relay_projection()
    small = KafkaPublisher(kafka_connection(tiffin.settings), PREFIX, 3.0, max_request_bytes=1100)
    writer = RelayWriter(tiffin.views(), projection, small)
    strict = Projector(projection, leaders_of(tiffin, projection), writer, read_limit=read_limit)
    try:
        strict.run_once()
        parked = strict.parked()
    finally:
        small.close()

    assert [p.topic for p in parked] == ["domain.order:Order.Placed"]
    assert "MessageSizeTooLarge" in parked[0].error
    use_settings(tiffin, monkeypatch)
    assert main(["work", "list", "--parked"]) == 0
    listed = capsys.readouterr().out
    assert "kafka-relay" in listed
    assert "MessageSizeTooLarge" in listed
    assert main(["work", "retry", "kafka-relay", "all"]) == 0  # at the usual size limit
    assert "1 parked event(s) published, 0 still parked" in capsys.readouterr().out
    relay = projector(tiffin, tiffin.views(), "kafka-relay")
    assert relay.parked() == []
    types = [m["type"] for m in consumed(kafka, len(public_events(tiffin)))]
    assert "tiffin.order.placed.v1" in types
    assert all(lag.events == 0 for lag in relay.lag(time.time()))


def test_tiffin_events_tail_prints_the_topic_events_one_json_line_each(
    tiffin: Tiffin,
    kafka: MockKafka,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    open_kitchen(tiffin)  # restaurant.registered, two menu items, went online
    relay_until_idle(kafka_relay(tiffin, tiffin.views()))
    use_settings(tiffin, monkeypatch)

    code = main(["events", "tail", "restaurants", "--from-beginning", "--limit", "4"])

    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["type"] for line in lines] == [
        "tiffin.restaurant.registered.v1",
        "tiffin.restaurant.menu_item_added.v1",
        "tiffin.restaurant.menu_item_added.v1",
        "tiffin.restaurant.went_online.v1",
    ]
    assert all({"partition", "offset", "id", "data"} <= set(line) for line in lines)
    assert "4 event(s)" in err


class OrderAcceptedV2(Data):  # a breaking change: the minutes become a promised time
    order_id: str
    ready_by: str


def test_a_breaking_change_publishes_v2_beside_v1_each_under_its_own_id(
    tiffin: Tiffin, kafka: MockKafka
) -> None:
    def accepted_v2(e: Any) -> dict[str, Any]:
        ready_by = e.timestamp + timedelta(minutes=e.prep_minutes)
        return {"order_id": str(e.originator_id), "ready_by": ready_by.isoformat()}

    v1 = next(c for c in CONTRACTS if c.domain_event == "Order.Accepted")
    v2 = Contract("Order.Accepted", "order.accepted", 2, "orders", OrderAcceptedV2, accepted_v2)
    both = (*CONTRACTS, v2)
    some_history(tiffin)
    projection = relay_projection(both)
    writer = RelayWriter(tiffin.views(), projection, tiffin.kafka_publisher())
    Projector(projection, leaders_of(tiffin, projection), writer).run_once()

    expected = public_events(tiffin, both)
    messages = consumed(kafka, len(expected))
    accepted = {m["type"]: m for m in messages if m["type"].startswith("tiffin.order.accepted")}

    assert sorted(accepted) == [v1.type, "tiffin.order.accepted.v2"]
    old, new = accepted[v1.type], accepted["tiffin.order.accepted.v2"]
    assert new["id"] == old["id"] + ":v2", "a consumer deduping by id keeps both"
    assert new["subject"] == old["subject"]
    assert new["_partition"] == old["_partition"], "one aggregate, one partition"
    assert set(new["data"]) == {"order_id", "ready_by"}
    assert old["data"]["prep_minutes"] == 10
    assert sorted(m["id"] for m in messages) == sorted(e[0] for e in expected)
