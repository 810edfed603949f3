"""``tiffin events topics``: the plan, and ``--create`` against a cluster over the real wire
protocol (librdkafka's mock, three brokers). The mock does not take CreateTopics requests, so a
missing topic is reported with what to create by other means; topics that exist are reported
as they are in the cluster's metadata, and one with another partition count than planned is
left as it is and makes the command fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.kafka_mock import MockKafka
from cli.main import main

PREFIX = "plan."


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockKafka]:
    with MockKafka(brokers=3) as cluster:
        monkeypatch.setenv("TIFFIN_KAFKA_BOOTSTRAP_SERVERS", cluster.bootstrap_servers)
        monkeypatch.setenv("TIFFIN_KAFKA_TOPIC_PREFIX", PREFIX)
        monkeypatch.setenv("TIFFIN_KAFKA_PARTITIONS", "4")
        monkeypatch.setenv("TIFFIN_KAFKA_TOPIC_PARTITIONS", "orders=8")
        yield cluster


def test_the_plan_lists_every_topic_with_its_partitions(
    kafka: MockKafka, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["events", "topics"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["plan.orders", "8", "partitions"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["plan.payments", "4"],
        ["plan.deliveries", "4"],
        ["plan.restaurants", "4"],
        ["plan.couriers", "4"],
        ["plan.courier-locations", "4"],
    ]


def test_create_reports_existing_topics_and_what_it_could_not_create(
    kafka: MockKafka, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka.create_topic("plan.orders", partitions=8, replication=3)
    for topic in ("payments", "deliveries", "restaurants"):
        kafka.create_topic(PREFIX + topic, partitions=4, replication=3)

    assert main(["events", "topics", "--create"]) == 1  # the mock refuses CreateTopics

    error = capsys.readouterr().err
    assert "does not take CreateTopics" in error
    assert "plan.couriers (4 partitions), plan.courier-locations (4 partitions)" in error
    assert "replication factor 3" in error  # min(3, the cluster's three brokers)
    assert "plan.orders" not in error

    kafka.create_topic("plan.couriers", partitions=4, replication=3)
    kafka.create_topic("plan.courier-locations", partitions=2, replication=3)
    assert main(["events", "topics", "--create"]) == 1  # one differs from the plan

    report = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert report["plan.orders"].split()[1:5] == ["exists", "8", "partitions,", "replication"]
    assert report["plan.orders"].split()[5] == "3"
    assert "differs" in report["plan.courier-locations"]
    assert "(planned 4: left as it is)" in report["plan.courier-locations"]
    assert " 2 partitions" in report["plan.courier-locations"]


def test_create_without_a_cluster_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TIFFIN_KAFKA_BOOTSTRAP_SERVERS", raising=False)

    assert main(["events", "topics", "--create"]) == 2
    assert "TIFFIN_KAFKA_BOOTSTRAP_SERVERS is not set" in capsys.readouterr().err
