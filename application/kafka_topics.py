"""The Kafka topics the platform writes, and how many partitions each should have.

Each context's integration events have a topic, and the couriers' pings have one
(``TIFFIN_KAFKA_TOPIC_PREFIX`` before each name). Every topic gets ``TIFFIN_KAFKA_PARTITIONS``
partitions, unless ``TIFFIN_KAFKA_TOPIC_PARTITIONS`` names its own (``orders=24,couriers=3``).
A topic's partition count is chosen once: adding partitions later moves keys to other
partitions, so an aggregate's events would no longer be in order on one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.integration_events import CONTEXT_TOPICS, LOCATIONS_TOPIC

TOPICS = (*CONTEXT_TOPICS, LOCATIONS_TOPIC)
MAX_PARTITIONS = 10_000


@dataclass(frozen=True)
class PlannedTopic:
    topic: str  # the platform's name for it, e.g. "orders"
    name: str  # in the cluster, with the prefix: "tiffin.orders"
    partitions: int


def partition_overrides(text: str) -> dict[str, int]:
    """``orders=24,courier-locations=12`` as a map; ValueError naming what is wrong."""
    overrides: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        topic, equals, count = item.partition("=")
        topic = topic.strip()
        if not equals or topic not in TOPICS:
            raise ValueError(f"{item!r}: expected TOPIC=PARTITIONS, TOPIC one of {list(TOPICS)}")
        if not count.strip().isdigit() or not 1 <= int(count) <= MAX_PARTITIONS:
            raise ValueError(f"{item!r}: partitions must be a whole number, 1 to {MAX_PARTITIONS}")
        if topic in overrides:
            raise ValueError(f"{topic!r} is named twice")
        overrides[topic] = int(count)
    return overrides


def topic_plan(prefix: str, partitions: int, overrides: str = "") -> list[PlannedTopic]:
    """Every topic, its name in the cluster and its partition count."""
    counts = partition_overrides(overrides)
    return [PlannedTopic(t, prefix + t, counts.get(t, partitions)) for t in TOPICS]
