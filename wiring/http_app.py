"""The HTTP API wired to the platform: tokens, rate limits, live channels and view reads
chosen from the settings, opened with the app and closed with it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis

from adapters.bearer_tokens import BearerTokens
from adapters.event_positions import StoredEventPositions
from adapters.firebase_tokens import FirebaseTokens
from adapters.kafka_locations import LocationFeed, LocationsLag
from adapters.kafka_publisher import cluster_report
from adapters.keyring_cipher import KeyringSealer
from adapters.memory_rate_limiter import InProcessRateLimiter
from adapters.memory_views import MemoryViews
from adapters.platform_tokens import PlatformTokens
from adapters.redis_rate_limiter import AsyncRedisRateLimiter
from adapters.redis_views import AsyncRedisHashReads
from adapters.sql import PostgresDatabase, replica_report
from adapters.work_store import WorkItemsCollector
from adapters.worker_health import register_health
from api.app import create_app as create_api
from api.dependencies import ApiParts, Probe
from api.idempotency import IdempotencyStore, Sealer
from api.live_hub import InProcessSource, LiveHub, RedisSource
from api.rate_limiting import RouteLimits
from api.readiness import ReadinessCollector
from api.view_reads import ViewReads
from application.locations import LocationStore
from application.rate_limits import WithoutIO
from application.reconciliation import QUEUE as RECONCILE
from application.reconciliation import stranded
from application.settings import Settings
from projections.catalogue import Catalogue
from projections.key_views import HashReads, ReadsInPlace
from projections.metrics import register_lag
from projections.personal import IN_PLAIN
from projections.registry import EVERY_VIEW
from projections.views import SqlDatabase
from wiring.bootstrap import UPI_GATEWAY, Tiffin, bootstrap, kafka_connection
from wiring.migrate import schema_report
from wiring.telemetry import active_tracing
from wiring.tokens import platform_secret
from wiring.workers import KAFKA_RELAY, WORK_QUEUES, projector, views_database, views_replica

Clock = Callable[[], float]


def create_app(
    settings: Settings,
    tiffin: Tiffin | None = None,
    clock: Clock = time.time,
    *,
    owns_platform: bool | None = None,
) -> FastAPI:
    """The API over ``tiffin``, or over a platform of its own. The app owns the platform it
    builds (or is handed with ``owns_platform=True``): it closes it, and on the embedded
    default runs every worker in-process too."""
    registry = CollectorRegistry()
    owned = tiffin is None if owns_platform is None else owns_platform

    @asynccontextmanager
    async def open_parts() -> AsyncIterator[ApiParts]:
        platform = tiffin or bootstrap(settings)
        runtime = None
        if owned and settings.embedded:
            runtime = platform.runtime()
            runtime.start()
        primary = views_database(settings)
        replica = views_replica(settings)
        source = _feed_source(settings, platform)
        live = LiveHub(source, settings.redis_prefix, registry)
        await live.start()
        client = _async_redis(settings)
        hash_reads: HashReads = (
            ReadsInPlace(platform.hot_views) if client is None else AsyncRedisHashReads(client)
        )
        try:
            views = Views(primary, replica)
            limits = _limits(settings, client)
            yield _parts(settings, platform, views, live, registry, clock, (limits, hash_reads))
        finally:
            await live.stop()
            if client is not None:
                await client.aclose()
            if isinstance(source, RedisSource):
                await source.close()
            if runtime is not None:
                runtime.stop()
            primary.close()
            if replica is not None:
                replica.close()
            if owned:
                platform.close()

    app = create_api(settings, registry, open_parts)
    tracing = active_tracing()
    if tracing is not None:
        tracing.instrument(app)
    return app


@dataclass(frozen=True)
class Views:
    """The views database (its primary: stored answers are written there, and the lag of each
    view is its own) and its streaming replica (TIFFIN_VIEWS_REPLICA_URL), where the API's
    queries then read. A query's ``min_position`` waits on the replica's positions, which
    arrive with the rows they cover: read-your-writes holds."""

    primary: SqlDatabase
    replica: PostgresDatabase | None

    @property
    def queries(self) -> SqlDatabase:
        return self.primary if self.replica is None else self.replica


def _parts(
    settings: Settings,
    tiffin: Tiffin,
    databases: Views,
    live: LiveHub,
    registry: CollectorRegistry,
    clock: Clock,
    on_the_loop: tuple[RouteLimits, HashReads],
) -> ApiParts:
    reads = databases.queries
    views = ViewReads(lambda name: projector(tiffin, reads, name), settings.read_wait_seconds)
    on_primary = ViewReads(  # the lag a view has, whatever the replica's replay
        lambda name: projector(tiffin, databases.primary, name), settings.read_wait_seconds
    )
    followers = [*EVERY_VIEW, *([KAFKA_RELAY] if settings.kafka_bootstrap_servers else [])]
    register_lag(registry, lambda: [on_primary.projector(name) for name in followers])
    if settings.kafka_bootstrap_servers:
        registry.register(LocationsLag(kafka_connection(settings), settings.kafka_topic_prefix))
    register_health(registry, tiffin.health_board())
    registry.register(WorkItemsCollector(tiffin.work_store(), WORK_QUEUES))
    _register_stranded(registry, tiffin)
    limits, hash_reads = on_the_loop
    probes = _probes(settings, tiffin, databases)
    registry.register(ReadinessCollector(probes))
    return ApiParts(
        settings=settings,
        restaurants=tiffin.restaurants,
        ordering=tiffin.ordering,
        payments=tiffin.payments,
        deliveries=tiffin.deliveries,
        webhooks=tiffin.webhook_inbox(),
        locations=_locations(settings, tiffin),
        hot_views=tiffin.hot_views,
        hash_reads=hash_reads,
        tokens=_tokens(settings, clock),
        limits=limits,
        reads=reads,
        catalogue=Catalogue(reads),
        views=views,
        idempotency=IdempotencyStore(
            databases.primary,
            _sealer(tiffin.event_keys),
            tiffin.personal,
            settings.idempotency_claim_seconds,
            clock,
        ),
        registry=registry,
        live=live,
        positions=StoredEventPositions(),
        probes=probes,
        personal=tiffin.personal,
        devices=tiffin.devices(),
    )


def _locations(settings: Settings, tiffin: Tiffin) -> LocationStore:
    """Couriers' pings: to Kafka when it is configured (the ``courier-locations`` worker
    applies them), else straight to the location store."""
    if settings.kafka_bootstrap_servers is None:
        return tiffin.locations
    return LocationFeed(tiffin.locations, tiffin.kafka_publisher())


def _sealer(keys: list[str]) -> Sealer:
    """Stored answers are sealed with the events' keyring (as they are, with no key)."""
    return KeyringSealer(keys) if keys else IN_PLAIN


def _tokens(settings: Settings, clock: Clock) -> BearerTokens:
    platform = PlatformTokens(platform_secret(settings), clock)
    firebase = None
    if settings.firebase_project_id:
        firebase = FirebaseTokens(settings.firebase_project_id, settings.firebase_certs_url, clock)
    return BearerTokens(platform, firebase)


ASYNC_REDIS_CONNECTIONS = 32  # per API process: rate limits and hot reads


def _async_redis(settings: Settings) -> AsyncRedis | None:
    """The API event loop's own Redis client, when Redis is configured (the app closes it)."""
    if settings.redis_url is None:
        return None
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=ASYNC_REDIS_CONNECTIONS, timeout=5.0
    )  # a burst of requests waits its turn for a connection rather than failing
    return AsyncRedis.from_pool(pool)  # closing the client closes its pool


def _limits(settings: Settings, client: AsyncRedis | None) -> RouteLimits:
    """The routes' rate limits: in Redis when configured, through the event loop's client,
    else in the process."""
    if client is not None:
        limiter = AsyncRedisRateLimiter(client, prefix=f"{settings.redis_prefix}rate:")
        return RouteLimits.from_settings(settings, limiter)
    return RouteLimits.from_settings(settings, WithoutIO(InProcessRateLimiter()))


def _feed_source(settings: Settings, tiffin: Tiffin) -> InProcessSource | RedisSource:
    """Where the hot views' live feeds come from: Redis pub/sub, or the in-process views."""
    if settings.redis_url is not None:
        return RedisSource(settings.redis_url, settings.redis_prefix)
    assert isinstance(tiffin.hot_views, MemoryViews)  # no Redis: the in-process views
    return InProcessSource(tiffin.hot_views.follow)


def _probes(settings: Settings, tiffin: Tiffin, databases: Views) -> dict[str, Probe]:
    """What /readyz checks: each probe raises when its dependency does not answer."""

    def event_store() -> None:
        for app in tiffin.apps():
            app.recorder.max_notification_id()

    def views() -> None:
        with databases.primary.transaction() as run:
            run("SELECT 1", ()).fetchone()

    probes: dict[str, Probe] = {
        "event_store": event_store,
        "views": views,
        "schema": lambda: schema_report(tiffin),
    }
    replica = databases.replica
    if replica is not None:
        probes["views_replica"] = lambda: replica_report(replica)
    redis = tiffin.redis
    if redis is not None:
        probes["redis"] = lambda: None if redis.ping() else "no PONG"
    if settings.kafka_bootstrap_servers is None:
        probes["kafka"] = lambda: "off"
    else:
        connection = kafka_connection(settings)
        probes["kafka"] = lambda: cluster_report(connection)
    probes[UPI_GATEWAY] = lambda: _breaker_report(tiffin, UPI_GATEWAY)
    return probes


def _breaker_report(tiffin: Tiffin, destination: str) -> str:
    """The destination's circuit breaker as the workers calling it report it (it never fails
    readiness: orders are still taken while the gateway is down)."""
    rows = [row for row in tiffin.health_board().breakers() if row.destination == destination]
    worst = max(rows, key=lambda row: (row.state != "closed", row.open_seconds), default=None)
    if worst is None:
        return "breaker not reported (no worker has called it yet)"
    if worst.state == "closed":
        return "breaker closed"
    return f"breaker {worst.state.replace('_', '-')} for {worst.open_seconds:.0f} s"


def _register_stranded(registry: CollectorRegistry, tiffin: Tiffin) -> None:
    after = tiffin.settings.reconcile_after_seconds
    gauge = Gauge(
        "tiffin_payments_stranded",
        f"payments still pending or refund_pending more than {after:g} s after they began "
        "waiting (reconciliation is asking the gateway about them)",
        registry=registry,
    )
    store = tiffin.work_store()
    gauge.set_function(lambda: stranded(store.items(RECONCILE), time.time(), after))
