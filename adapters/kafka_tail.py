"""``tiffin events tail``: the CloudEvents of a topic, one JSON line each, as they arrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from adapters.kafka_publisher import KafkaConnection


def tail(
    connection: KafkaConnection,
    topic: str,
    *,
    from_beginning: bool,
    group: str | None,
    limit: int | None,
    show: Callable[[str], None],
) -> int:
    """Prints the topic's messages (from its start, or from now; in ``group``, committing
    what was shown, or in no group) until ``limit`` were shown or it is interrupted."""

    async def follow() -> int:
        consumer = AIOKafkaConsumer(
            topic,
            **connection.client_options(),
            group_id=group,
            enable_auto_commit=group is not None,
            auto_offset_reset="earliest" if from_beginning else "latest",
        )
        await consumer.start()
        shown = 0
        try:
            async for record in consumer:
                show(_line(record.value, record.partition, record.offset))
                shown += 1
                if limit is not None and shown >= limit:
                    break
        finally:
            await consumer.stop()
        return shown

    return asyncio.run(follow())


def _line(value: bytes, partition: int, offset: int) -> str:
    try:
        event = json.loads(value)
    except ValueError:
        return json.dumps(
            {"partition": partition, "offset": offset, "raw": value.decode("replace")}
        )
    return json.dumps({"partition": partition, "offset": offset, **event}, sort_keys=True)
