"""The composition root: builds every application, and the saga's workers, from the settings."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import MapperDeserialisationError
from redis import Redis

from adapters.device_registry import SqlDeviceRegistry
from adapters.event_keys import event_keys
from adapters.event_store import event_store_env
from adapters.fcm_push import FcmSender, service_account_info
from adapters.http_gateway import HttpUpiGateway
from adapters.kafka_admin import TopicOutcome, ensure_topics
from adapters.kafka_batches import send_batches as send_batches  # the relay's, for bench
from adapters.kafka_locations import LocationConsumer
from adapters.kafka_publisher import KafkaConnection, KafkaPublisher
from adapters.kafka_publisher import kafka_message as kafka_message  # the relay's, for bench
from adapters.kafka_tail import tail
from adapters.keyring_cipher import KeyringPersonal
from adapters.memory_locations import InProcessLocationStore
from adapters.memory_views import MemoryViews
from adapters.redis_locations import RedisLocationStore
from adapters.redis_views import RedisViews
from adapters.schema_version import migration_lock
from adapters.secrets import configured_or_generated
from adapters.simulated_gateway import SimulatedUpiGateway
from adapters.worker_health import SqlHealthBoard
from application.circuit_breaker import CircuitBreaker
from application.deliveries import Deliveries
from application.gateway import GatewayUnavailable, GuardedGateway, UpiGateway
from application.kafka_topics import PlannedTopic, topic_plan
from application.locations import LocationStore
from application.ordering import Ordering
from application.payments import Merchant, Payments
from application.restaurants import Restaurants
from application.runtime import Runtime
from application.settings import ConfigurationError, Settings
from application.webhook_inbox import QUEUE as INBOX
from application.webhook_inbox import SagaProgress, WebhookInbox
from application.webhooks import PaymentWebhooks, WebhookSignatures
from application.work import Schedule
from domain.values import Money
from projections.key_views import KeyStore
from projections.personal import IN_PLAIN, Personal
from projections.views import SqlDatabase
from wiring.migrate import Migrated, migrate
from wiring.telemetry import active_tracing
from wiring.workers import (
    COMPONENTS,
    ClosableWorkStore,
    build_runtime,
    open_views,
    open_work_store,
)

Clock = Callable[[], float]
UPI_GATEWAY = "upi_gateway"
log = logging.getLogger(__name__)  # the destination's name in metrics and /readyz


@dataclass
class Tiffin:
    """The running platform: one application per bounded context, and the ports they use."""

    settings: Settings
    restaurants: Restaurants
    ordering: Ordering
    payments: Payments
    deliveries: Deliveries
    webhooks: PaymentWebhooks
    webhook_secret: bytes
    event_keys: list[str]  # the keyring stored events (and stored answers) are sealed with
    locations: LocationStore
    hot_views: KeyStore  # the key-value views: Redis when configured, else in-process
    clock: Clock = time.time
    redis: Redis | None = None  # shared by the adapters that use Redis, when configured
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _work_store: ClosableWorkStore | None = None
    _views: SqlDatabase | None = None
    _inbox: WebhookInbox | None = None
    _health_board: SqlHealthBoard | None = None
    _gateway: GuardedGateway | None = None
    _publisher: KafkaPublisher | None = None
    _location_consumer: LocationConsumer | None = None
    _devices: SqlDeviceRegistry | None = None
    _push_sender: FcmSender | None = None
    migrated: Migrated | None = None  # what bootstrap's migration did (TIFFIN_CREATE_TABLES)

    @cached_property
    def personal(self) -> Personal:
        """How the views keep people's ids and text (``projections.personal``): keyed by the
        events' keyring, or as they are when there is none."""
        return KeyringPersonal(self.event_keys) if self.event_keys else IN_PLAIN

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        for app in (self.restaurants, self.ordering, self.payments, self.deliveries):
            app.close()

    def __enter__(self) -> Tiffin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def apps(self) -> tuple[Restaurants, Ordering, Payments, Deliveries]:
        """The applications, one per bounded context, each with its own log."""
        return (self.restaurants, self.ordering, self.payments, self.deliveries)

    def work_store(self) -> ClosableWorkStore:
        """The table of deadlines and gateway calls (opened once, closed with the platform)."""
        if self._work_store is None:
            self._work_store = open_work_store(self.settings)
            self._closers.append(self._work_store.close)
        return self._work_store

    def views(self) -> SqlDatabase:
        """The database of the read models (opened once, closed with the platform)."""
        if self._views is None:
            self._views = open_views(self.settings)
            self._closers.append(self._views.close)
        return self._views

    def webhook_inbox(self) -> WebhookInbox:
        """The payment webhooks, kept in the inbox queue when they outrun the saga."""
        if self._inbox is None:
            store = self.work_store()

            def hold(key: str, payload: dict[str, Any]) -> None:
                with store.database.transaction() as run:
                    store.record(run, INBOX, [Schedule(key, self.clock(), payload)])

            progress = SagaProgress(self.payments, self.ordering)
            self._inbox = WebhookInbox(
                self.webhooks, progress, hold, self.settings.read_wait_seconds
            )
        return self._inbox

    def gateway(self) -> GuardedGateway:
        """The UPI gateway the settings choose, behind its circuit breaker (built once)."""
        if self._gateway is None:
            settings = self.settings
            breaker = CircuitBreaker(
                UPI_GATEWAY,
                settings.breaker_failures,
                settings.breaker_reset_seconds,
                counts_as_failure=(GatewayUnavailable,),
                clock=self.clock,
            )
            gateway = _gateway(settings, self.work_store, self.clock)
            self._gateway = GuardedGateway(gateway, breaker)
        return self._gateway

    def kafka_publisher(self) -> KafkaPublisher:
        """The producer of integration events (TIFFIN_KAFKA_*; built once, flushed and closed
        with the platform)."""
        if self._publisher is None:
            settings = self.settings
            self._publisher = KafkaPublisher(
                kafka_connection(settings),
                settings.kafka_topic_prefix,
                settings.kafka_publish_timeout_seconds,
            )
            self._closers.append(self._publisher.close)
        return self._publisher

    def location_consumer(self) -> LocationConsumer:
        """The consumer applying couriers' pings from Kafka to the location store (built
        once, closed with the platform)."""
        if self._location_consumer is None:
            settings = self.settings
            self._location_consumer = LocationConsumer(
                kafka_connection(settings), settings.kafka_topic_prefix, self.locations
            )
            self._closers.append(self._location_consumer.close)
        return self._location_consumer

    def devices(self) -> SqlDeviceRegistry:
        """The devices push notifications go to (in the work database; built once)."""
        if self._devices is None:
            database = self.work_store().database
            self._devices = SqlDeviceRegistry(database, self.settings.push_max_devices)
        return self._devices

    def push_sender(self) -> FcmSender:
        """FCM, as the service account in TIFFIN_PUSH_CREDENTIALS_FILE (built once)."""
        if self._push_sender is None:
            self._push_sender = fcm_sender(self.settings)
            self._closers.append(self._push_sender.close)
        return self._push_sender

    def breakers(self) -> list[CircuitBreaker]:
        """The circuit breakers of the outside destinations this process has called."""
        return [] if self._gateway is None else [self._gateway.breaker]

    def health_board(self) -> SqlHealthBoard:
        """What every worker reports of its components (in the work database; opened once)."""
        if self._health_board is None:
            self._health_board = SqlHealthBoard(self.work_store().database)
        return self._health_board

    def runtime(self, only: Sequence[str] = COMPONENTS) -> Runtime:
        """The workers (all, or only the named ones), not started yet."""
        return build_runtime(self, self.work_store(), self.views(), only)


def kafka_connection(settings: Settings) -> KafkaConnection:
    if settings.kafka_bootstrap_servers is None:
        raise ConfigurationError("TIFFIN_KAFKA_BOOTSTRAP_SERVERS is not set: Kafka is off")
    cafile = settings.kafka_ssl_cafile
    return KafkaConnection(
        settings.kafka_bootstrap_servers,
        settings.kafka_security_protocol,
        settings.kafka_sasl_mechanism,
        settings.kafka_sasl_username,
        settings.kafka_sasl_password,
        None if cafile is None else str(cafile),
    )


def fcm_sender(settings: Settings) -> FcmSender:
    path = settings.push_credentials_file
    if path is None:
        raise ConfigurationError("TIFFIN_PUSH_CREDENTIALS_FILE is not set: push is off")
    info = service_account_info(path, settings.push_token_url)
    project_id = settings.push_project_id or info.get("project_id")
    if not project_id:
        raise ConfigurationError(
            "TIFFIN_PUSH_PROJECT_ID: not set, and the service account key names no project_id"
        )
    return FcmSender(str(project_id), info, settings.push_fcm_url)


def tail_topic(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool,
    group: str | None,
    limit: int | None,
    show: Callable[[str], None],
) -> int:
    """``tiffin events tail``: prints a topic's CloudEvents (``TOPIC`` without the prefix)."""
    prefix = settings.kafka_topic_prefix
    name = topic if topic.startswith(prefix) else prefix + topic
    connection = kafka_connection(settings)
    return tail(
        connection, name, from_beginning=from_beginning, group=group, limit=limit, show=show
    )


def kafka_topic_plan(settings: Settings) -> list[PlannedTopic]:
    """The topics the platform writes, with their partition counts (TIFFIN_KAFKA_*)."""
    return topic_plan(
        settings.kafka_topic_prefix, settings.kafka_partitions, settings.kafka_topic_partitions
    )


def create_kafka_topics(settings: Settings) -> list[TopicOutcome]:
    """``tiffin events topics --create``: the planned topics the cluster lacks, created."""
    plan = kafka_topic_plan(settings)
    return ensure_topics(kafka_connection(settings), plan, settings.kafka_replication_factor)


def bootstrap(
    settings: Settings, clock: Clock = time.time, say: Callable[[str], None] = lambda _: None
) -> Tiffin:
    """Builds the platform on the event store the settings choose. With TIFFIN_CREATE_TABLES
    on, its tables are created and upgraded as it is built (``say`` hears of each step), under
    the migration lock: processes starting together take turns, and never race on DDL."""
    if not settings.create_tables:
        tiffin = _build(settings, clock)
    else:
        with migration_lock(settings.database_url, settings.data_dir):
            tiffin = _build(settings, clock)
            try:
                tiffin.migrated = migrate(tiffin, say)
            except BaseException:
                tiffin.close()
                raise
    try:
        for app in tiffin.apps():
            _check_newest_event_decodes(app, settings)
    except BaseException:
        tiffin.close()
        raise
    tracing = active_tracing()
    if tracing is not None:  # a span per saga reaction
        for process in (tiffin.ordering, tiffin.payments, tiffin.deliveries):
            process.observe = tracing.span_for
    return tiffin


def _build(settings: Settings, clock: Clock) -> Tiffin:
    closers: list[Callable[[], None]] = []
    keys = event_keys(settings)
    if not keys:
        log.warning(
            "EVENTS ARE STORED UNENCRYPTED: server mode has no TIFFIN_EVENT_CIPHER_KEY, so "
            "addresses, phone numbers and VPAs are readable by anyone who can read the "
            "database; set one (see README: Configuration)"
        )
    restaurants = Restaurants(
        event_store_env(settings, Restaurants.name, keys),
        max_price=Money.parse(settings.max_item_price),
    )
    ordering = Ordering(
        event_store_env(settings, Ordering.name, keys),
        restaurants=restaurants,
        delivery_fee=Money.parse(settings.delivery_fee),
        max_total=Money.parse(settings.max_order_total),
    )
    payments = Payments(
        event_store_env(settings, Payments.name, keys),
        merchant=Merchant(settings.merchant_vpa, settings.merchant_name),
    )
    redis = _redis(settings, closers)
    locations = (
        InProcessLocationStore()
        if redis is None
        else RedisLocationStore(redis, prefix=f"{settings.redis_prefix}courier:")
    )
    deliveries = Deliveries(
        event_store_env(settings, Deliveries.name, keys), orders=ordering, locations=locations
    )
    ordering.delivery_progress = deliveries
    webhook_secret = configured_or_generated(
        settings.payment_webhook_secret, settings.data_dir, "payment-webhook"
    )
    webhooks = PaymentWebhooks(payments, WebhookSignatures(webhook_secret))
    return Tiffin(
        settings=settings,
        restaurants=restaurants,
        ordering=ordering,
        payments=payments,
        deliveries=deliveries,
        webhooks=webhooks,
        webhook_secret=webhook_secret,
        event_keys=keys,
        locations=locations,
        hot_views=MemoryViews() if redis is None else RedisViews(redis),
        clock=clock,
        redis=redis,
        _closers=closers,
    )


def _check_newest_event_decodes(app: Application[Any], settings: Settings) -> None:
    """Refuses to start on stored events this configuration cannot read (another
    TIFFIN_EVENT_CIPHER_KEY, or none for encrypted data), rather than failing every read."""
    try:
        newest = app.recorder.max_notification_id()
    except Exception as error:
        if settings.create_tables or not _missing_table(error):
            raise
        return  # not migrated yet: /readyz says so, and workers wait for `tiffin migrate`
    if not newest:
        return
    stored = app.recorder.select_notifications(start=newest, limit=1)
    try:
        for notification in stored:
            app.mapper.to_domain_event(notification)
    except MapperDeserialisationError as error:
        key = (
            "the key set"
            if settings.event_cipher_key
            else "the data directory's keyring (event-cipher.keys)"
            if settings.embedded
            else "no key (it is not set)"
        )
        raise ConfigurationError(
            f"TIFFIN_EVENT_CIPHER_KEY: the {app.name} log's newest event cannot be read with "
            f"{key}; start with the key the events were written with ({error.__cause__ or error})"
        ) from error


def _missing_table(error: BaseException | None) -> bool:
    """Whether the error (or what caused it) is a table that does not exist."""
    while error is not None:
        if isinstance(error, psycopg.errors.UndefinedTable):
            return True
        if isinstance(error, sqlite3.OperationalError) and "no such table" in str(error):
            return True
        error = error.__cause__
    return False


def _redis(settings: Settings, closers: list[Callable[[], None]]) -> Redis | None:
    """Redis when configured, shared by every process (couriers' positions, hot views)."""
    if settings.redis_url is None:
        return None
    client = Redis.from_url(settings.redis_url)
    closers.append(client.close)
    return client


def _gateway(
    settings: Settings, work_store: Callable[[], ClosableWorkStore], clock: Clock
) -> UpiGateway:
    """The UPI gateway the settings choose: a real one over HTTP, or the simulated one (which
    keeps its payments in the work database)."""
    if settings.payment_gateway == "http":
        assert settings.payment_gateway_url is not None  # Settings refuses http without a URL
        key = settings.payment_gateway_key
        return HttpUpiGateway(settings.payment_gateway_url, key.get_secret_value() if key else "")
    return SimulatedUpiGateway(work_store(), settings.simulated_capture_seconds, clock)
