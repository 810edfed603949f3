"""Integration events to Kafka: CloudEvents 1.0 (structured mode, JSON) sent by an idempotent
aiokafka producer (``enable_idempotence=True``, ``acks="all"``), keyed by the aggregate id.

The producer lives on an event loop of its own, in a thread, so the relay (a worker component,
synchronous like the others) hands it a batch and waits: ``publish`` returns once the broker
has acknowledged every message of the batch, and raises ``BrokerUnavailable`` if it has not
within ``timeout_seconds`` (the batch is sent again later, with the same ids) or
``Unpublishable`` for a message no retry will get through (too large), which the relay parks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from cloudevents.core.bindings.kafka import KafkaMessage

from adapters.kafka_batches import fields_of, send_batches
from adapters.loop_thread import LoopThread
from application.integration_events import IntegrationEvent

DATACONTENTTYPE = "application/json"
HEADERS = {"content-type": b"application/cloudevents+json"}  # structured mode
log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The cluster did not acknowledge the batch in time, or cannot be reached: retry later."""


class Unpublishable(Exception):
    """A message the cluster refuses for good (too large for it, say): it is parked."""


@dataclass(frozen=True)
class KafkaConnection:
    """Where the cluster is and how to talk to it (README: Kafka)."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"  # or SSL, SASL_PLAINTEXT, SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for this connection."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        if self.ssl_cafile or self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        return options


def kafka_message(event: IntegrationEvent) -> KafkaMessage:
    """The Kafka message of an event: its CloudEvent in structured mode (JSON), keyed by its
    subject. Written directly (orjson) rather than through the SDK's objects, which cost the
    relay more than sending does; the tests read every message back with the SDK
    (``from_structured``)."""
    envelope = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time.astimezone(UTC),  # RFC 3339, "Z" (OPT_UTC_Z)
        "datacontenttype": DATACONTENTTYPE,
        "dataschema": event.dataschema,
        "partitionkey": event.subject,  # the CloudEvents Kafka binding's key attribute
        "correlationid": event.correlation_id,  # extensions
        "actor": event.actor,
        "actorrole": event.actor_role,
        "data": event.data,
    }
    value = orjson.dumps(envelope, option=orjson.OPT_UTC_Z)
    return KafkaMessage(headers=HEADERS, key=event.subject, value=value)


class Acknowledgement:
    """The cluster's acknowledgement of a batch handed to the producer."""

    def __init__(self, publisher: KafkaPublisher, done: Future[None] | None, count: int) -> None:
        self.publisher = publisher
        self.done = done
        self.count = count

    def wait(self) -> None:
        """Returns once every event of the batch is acknowledged; ``BrokerUnavailable`` if
        they are not within the publish timeout, ``Unpublishable`` for a message refused."""
        if self.done is None:
            return
        try:
            self.done.result(self.publisher.timeout_seconds)
        except FutureTimeout:
            self.done.cancel()
            self.publisher.restart()
            raise BrokerUnavailable(
                f"Kafka did not acknowledge {self.count} event(s) within"
                f" {self.publisher.timeout_seconds:g} s"
            ) from None


class KafkaPublisher:
    transient: tuple[type[BaseException], ...] = (BrokerUnavailable,)

    def __init__(
        self,
        connection: KafkaConnection,
        topic_prefix: str,
        timeout_seconds: float = 30.0,
        max_request_bytes: int = 1_048_576,  # aiokafka's default: larger messages are parked
        max_pending: int = 10_000,  # messages ``offer`` may have on their way at once
    ) -> None:
        self.connection = connection
        self.max_pending = max_pending
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.max_request_bytes = max_request_bytes
        self.topic_prefix = topic_prefix
        self.timeout_seconds = timeout_seconds
        self._loop = LoopThread("kafka-publisher")
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._sending: set[asyncio.Task[None]] = set()  # offered messages on their way

    def offer(self, event: IntegrationEvent, lost: Callable[[], None]) -> bool:
        """Sends the event without waiting for it (a courier's ping): False, and nothing
        sent, when ``max_pending`` are still on their way (the buffer is full); ``lost`` is
        called if it cannot be sent after all (the cluster cannot be reached)."""
        with self._pending_lock:
            if self._pending >= self.max_pending:
                return False
            self._pending += 1
        message = kafka_message(event)
        self._loop.submit(self._send_soon(self.topic_prefix + event.topic, message, lost))
        return True

    async def _send_soon(self, topic: str, message: KafkaMessage, lost: Callable[[], None]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sending.add(task)
        try:
            await _sent(await self._started(), topic, message)
        except (KafkaError, BrokerUnavailable) as error:
            lost()
            log.warning("a message to %s was not sent: %r", topic, error)
        finally:
            if task is not None:
                self._sending.discard(task)
            with self._pending_lock:
                self._pending -= 1

    def publish(self, events: Sequence[IntegrationEvent]) -> None:
        """Sends every event and returns once the cluster has acknowledged them all."""
        self.submit(events).wait()

    def submit(self, events: Sequence[IntegrationEvent]) -> Acknowledgement:
        """Hands the events to the producer and returns at once: the acknowledgement of them
        all, to wait for (so the next batch is read while the cluster acknowledges this one)."""
        messages = [(self.topic_prefix + e.topic, kafka_message(e)) for e in events]
        done = self._loop.submit(self._send(messages)) if messages else None
        return Acknowledgement(self, done, len(messages))

    async def _send(self, messages: Sequence[tuple[str, KafkaMessage]]) -> None:
        producer = await self._started()
        try:
            await asyncio.gather(*await send_batches(producer, messages, self.max_request_bytes))
        except KafkaError as error:
            if getattr(error, "retriable", False) or "connect" in str(error).lower():
                await self._stop()
                raise BrokerUnavailable(f"Kafka: {error!r}") from error
            raise Unpublishable(f"Kafka refused the message: {error!r}") from error

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:  # one producer, however many sends wait for it
            return await self._start_once()

    async def _start_once(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **self.connection.client_options(),
                enable_idempotence=True,
                acks="all",
                client_id="tiffin-relay",
                max_request_size=self.max_request_bytes,
            )
            self._producer = await started(producer)
        return self._producer

    async def _stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what it holds

    def restart(self) -> None:
        """Drops the producer after a batch timed out; the next batch starts a new one."""
        stopping = self._loop.submit(self._stop())
        try:
            stopping.result(self.timeout_seconds)
        except (FutureTimeout, KafkaError):
            self._producer = None

    def close(self) -> None:
        """Flushes and stops the producer (on SIGTERM), drops what could not be sent by then,
        and stops the loop."""
        if self._loop.closed:
            return
        closing = self._loop.submit(self._shutdown())
        try:
            closing.result(self.timeout_seconds)
        except (FutureTimeout, KafkaError):
            log.warning("the Kafka producer did not stop within %s s", self.timeout_seconds)
        self._loop.close(self.timeout_seconds)

    async def _shutdown(self) -> None:
        """Lets the sends on their way finish (half the timeout at most), drops those that
        cannot, then stops the producer, which sends what it still holds."""
        sending = list(self._sending)
        if sending:
            _, stuck = await asyncio.wait(sending, timeout=self.timeout_seconds / 2)
            for task in stuck:  # waiting for a cluster that is not there
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await self._stop()


async def started(client: Any) -> Any:
    """An aiokafka producer or consumer, started; ``BrokerUnavailable`` if it cannot be."""
    try:
        await client.start()
    except KafkaError as error:
        await client.stop()
        raise BrokerUnavailable(f"Kafka: {error!r}") from error
    return client


async def _sent(producer: AIOKafkaProducer, topic: str, message: KafkaMessage) -> Any:
    """Hands the message to the producer; the future of the cluster's acknowledgement."""
    key, value, headers = fields_of(message)
    return await producer.send(topic, value=value, key=key, headers=headers)


def cluster_report(connection: KafkaConnection, timeout_seconds: float = 2.0) -> str:
    """What /readyz says of the cluster: its brokers as its metadata lists them, or that it
    cannot be reached (never a failure of readiness: commands are still taken, the events wait
    in their logs and the relay publishes them once the cluster is back)."""

    async def metadata() -> int:
        client = AIOKafkaClient(**connection.client_options(), request_timeout_ms=2_000)
        try:
            async with asyncio.timeout(timeout_seconds):
                await client.bootstrap()
                return len(client.cluster.brokers())
        finally:
            await client.close()

    try:
        brokers = asyncio.run(metadata())
    except (KafkaError, OSError, TimeoutError) as error:
        return f"unreachable ({type(error).__name__}): events wait in their logs"
    return f"{brokers} broker(s) in the cluster's metadata"
