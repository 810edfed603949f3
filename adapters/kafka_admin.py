"""``tiffin events topics --create``: makes the planned topics in the cluster, through aiokafka's
admin client, and reports each one. A topic that exists is left as it is: with fewer or more
partitions than planned it is reported, never changed (more partitions would move keys, and
so an aggregate's events, to other partitions)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError

from adapters.kafka_publisher import BrokerUnavailable, KafkaConnection
from application.kafka_topics import PlannedTopic

DEFAULT_REPLICATION = 3
TIMEOUT_MS = 10_000
TOPIC_ALREADY_EXISTS = 36  # Kafka's error code


class TopicsNotCreated(Exception):
    """The cluster would not create the topics: the message says why and what to create."""


@dataclass(frozen=True)
class TopicOutcome:
    planned: PlannedTopic
    state: str  # "created", "exists" or "differs"
    partitions: int  # as it is in the cluster now
    replication: int


async def _ensure(
    connection: KafkaConnection, plan: Sequence[PlannedTopic], replication: int | None
) -> list[TopicOutcome]:
    admin = AIOKafkaAdminClient(**connection.client_options(), request_timeout_ms=TIMEOUT_MS)
    try:
        await admin.start()
    except KafkaError as error:
        await admin.close()
        raise BrokerUnavailable(f"Kafka: {error!r}") from error
    try:
        cluster = await admin.describe_cluster()
        factor = replication or min(DEFAULT_REPLICATION, len(cluster["brokers"]))
        existing = {
            t["topic"]: t["partitions"]
            for t in await admin.describe_topics()
            if not t["error_code"]
        }
        missing = [p for p in plan if p.name not in existing]
        if missing:
            await _create(admin, missing, factor)
        outcomes = []
        for planned in plan:
            if planned not in missing:
                partitions = existing[planned.name]
                state = "exists" if len(partitions) == planned.partitions else "differs"
                replicas = len(partitions[0]["replicas"]) if partitions else 0
                outcomes.append(TopicOutcome(planned, state, len(partitions), replicas))
            else:
                outcomes.append(TopicOutcome(planned, "created", planned.partitions, factor))
        return outcomes
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, missing: Sequence[PlannedTopic], factor: int) -> None:
    topics = [NewTopic(p.name, p.partitions, factor) for p in missing]
    wanted = ", ".join(f"{p.name} ({p.partitions} partitions)" for p in missing)
    try:
        response = await admin.create_topics(topics, timeout_ms=TIMEOUT_MS)
    except (IncompatibleBrokerVersion, AttributeError) as error:
        # AttributeError: aiokafka finds no controller in the cluster's metadata
        raise TopicsNotCreated(
            f"the cluster does not take CreateTopics requests ({type(error).__name__}):"
            f" create these with its own tools: {wanted}, replication factor {factor}"
        ) from error
    refused = [
        f"{name}: error {code}" + (f" ({rest[0]})" if rest and rest[0] else "")
        for name, code, *rest in response.topic_errors
        if code not in (0, TOPIC_ALREADY_EXISTS)  # made meanwhile (another migrate): fine
    ]
    if refused:
        raise TopicsNotCreated(f"the cluster refused: {'; '.join(refused)}")


def ensure_topics(
    connection: KafkaConnection, plan: Sequence[PlannedTopic], replication: int | None = None
) -> list[TopicOutcome]:
    """Creates the planned topics the cluster lacks (replication ``replication``, or 3, or
    fewer if it has fewer brokers) and says how each stands."""
    return asyncio.run(_ensure(connection, plan, replication))
