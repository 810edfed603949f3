"""The Kafka topics' plan: every topic with the prefix, the default partition count, and a
count of its own where TIFFIN_KAFKA_TOPIC_PARTITIONS names one; bad overrides refused at start."""

from __future__ import annotations

import pytest

from application.kafka_topics import TOPICS, partition_overrides, topic_plan
from application.settings import ConfigurationError, load_settings


def test_every_topic_gets_the_default_count_unless_it_has_its_own() -> None:
    plan = topic_plan("acme.", 6, "orders=24, courier-locations=12")

    assert [p.topic for p in plan] == list(TOPICS)
    assert {p.name: p.partitions for p in plan} == {
        "acme.orders": 24,
        "acme.payments": 6,
        "acme.deliveries": 6,
        "acme.restaurants": 6,
        "acme.couriers": 6,
        "acme.courier-locations": 12,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("order=3", "TOPIC one of"),
        ("orders", "expected TOPIC=PARTITIONS"),
        ("orders=0", "1 to 10000"),
        ("orders=-2", "whole number"),
        ("orders=1e3", "whole number"),
        ("orders=3,orders=4", "named twice"),
    ],
)
def test_a_malformed_override_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        partition_overrides(text)
    with pytest.raises(ConfigurationError, match="TIFFIN_KAFKA_TOPIC_PARTITIONS"):
        load_settings({"TIFFIN_KAFKA_TOPIC_PARTITIONS": text})


def test_partition_and_replication_counts_are_bounded() -> None:
    with pytest.raises(ConfigurationError, match="TIFFIN_KAFKA_PARTITIONS"):
        load_settings({"TIFFIN_KAFKA_PARTITIONS": "0"})
    with pytest.raises(ConfigurationError, match="TIFFIN_KAFKA_REPLICATION_FACTOR"):
        load_settings({"TIFFIN_KAFKA_REPLICATION_FACTOR": "0"})
    assert load_settings({}).kafka_partitions == 6
    assert load_settings({}).kafka_replication_factor is None
