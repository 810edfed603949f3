"""The HTTP API's composition root: ``create_app(settings)`` builds the FastAPI app, and its
lifespan opens (and closes) the platform and everything the routes use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from adapters.bearer_tokens import BearerTokens
from adapters.firebase_tokens import FirebaseTokens
from adapters.memory_rate_limiter import InProcessRateLimiter
from adapters.memory_views import MemoryViews
from adapters.platform_tokens import PlatformTokens
from adapters.redis_rate_limiter import RedisRateLimiter
from adapters.sql import create_tables, open_database
from api.http_metrics import HttpMetrics
from api.idempotency import DDL as IDEMPOTENCY_DDL
from api.idempotency import IdempotencyStore
from api.live_updates import InProcessChannels, OrderChannels, RedisChannels
from api.middleware import ApiMiddleware
from api.problems import add_problem_handlers
from api.rate_limiting import RouteLimits
from api.routes import (
    analytics,
    audit,
    couriers,
    deliveries,
    health,
    order_live,
    orders,
    payments,
    restaurants,
)
from api.services import Services
from api.token_commands import platform_secret
from api.view_reads import ViewReads
from application.bootstrap import Tiffin, bootstrap
from application.settings import Settings
from projections.catalogue import Catalogue
from projections.metrics import register_lag
from projections.registry import EVERY_VIEW

VERSION = "1.0.0"
DESCRIPTION = (
    "Tiffin's HTTP API (API.md). Positions: a command's `position` is the notification id of "
    "its last event in the log of the context it changed (Restaurants for restaurants and "
    "menus, Ordering for orders, Payments for payments, Deliveries for couriers and "
    "deliveries); `min_position` on a query waits for that position of the log the query's "
    "view follows, as each parameter says."
)


def create_app(
    settings: Settings, tiffin: Tiffin | None = None, clock: Callable[[], float] = time.time
) -> FastAPI:
    """The API over ``tiffin`` (or a platform of its own, opened and closed with the app; on
    the embedded default that one runs every worker in-process too)."""
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = _services(settings, tiffin, registry, clock)
        app.state.services = services
        try:
            yield
        finally:
            await _close(services, own_platform=tiffin is None)

    app = FastAPI(title="Tiffin", version=VERSION, description=DESCRIPTION, lifespan=lifespan)
    add_problem_handlers(app)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
        )
    app.add_middleware(
        ApiMiddleware, max_body_bytes=settings.max_body_bytes, metrics=HttpMetrics(registry)
    )
    routers = (health, restaurants, orders, order_live, payments, couriers, deliveries, audit)
    for module in (*routers, analytics):
        app.include_router(module.router)
    return app


def _services(
    settings: Settings,
    given: Tiffin | None,
    registry: CollectorRegistry,
    clock: Callable[[], float],
) -> Services:
    tiffin = given or bootstrap(settings)
    runtime = None
    if given is None and settings.embedded:
        runtime = tiffin.runtime()
        runtime.start()
    reads = open_database(settings.database_url, settings.data_dir / "views.sqlite3")
    create_tables(reads, [IDEMPOTENCY_DDL], "tiffin-api-ddl")
    views = ViewReads(tiffin, reads, settings.read_wait_seconds)
    register_lag(registry, lambda: [views.projector(name) for name in EVERY_VIEW])
    return Services(
        settings=settings,
        tiffin=tiffin,
        tokens=_tokens(settings, clock),
        limits=_limits(settings, tiffin),
        reads=reads,
        catalogue=Catalogue(reads),
        views=views,
        idempotency=IdempotencyStore(reads),
        registry=registry,
        channels=_channels(settings, tiffin),
        runtime=runtime,
    )


def _tokens(settings: Settings, clock: Callable[[], float]) -> BearerTokens:
    platform = PlatformTokens(platform_secret(settings), clock)
    firebase = None
    if settings.firebase_project_id:
        firebase = FirebaseTokens(settings.firebase_project_id, settings.firebase_certs_url, clock)
    return BearerTokens(platform, firebase)


def _limits(settings: Settings, tiffin: Tiffin) -> RouteLimits:
    if tiffin.redis is not None:
        limiter = RedisRateLimiter(tiffin.redis, prefix=f"{settings.redis_prefix}rate:")
        return RouteLimits.from_settings(settings, limiter, blocking=True)
    return RouteLimits.from_settings(settings, InProcessRateLimiter(), blocking=False)


def _channels(settings: Settings, tiffin: Tiffin) -> OrderChannels:
    if settings.redis_url is not None:
        return RedisChannels(settings.redis_url)
    assert isinstance(tiffin.hot_views, MemoryViews)  # no Redis: the in-process views
    return InProcessChannels(tiffin.hot_views.follow)


async def _close(services: Services, own_platform: bool) -> None:
    if isinstance(services.channels, RedisChannels):
        await services.channels.close()
    if services.runtime is not None:
        services.runtime.stop()
    services.reads.close()
    if own_platform:
        services.tiffin.close()
