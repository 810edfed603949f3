"""The FastAPI app: routes, problem answers and middleware, over parts it is handed.

``create_app`` builds no adapters: the composition root (``wiring.http_app``) passes in
``open_parts``, which the app's lifespan enters to get what the routes use and leaves to close it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from api.auth import limit_anonymous, refusal_of_anonymous
from api.dependencies import ApiParts
from api.docs_pages import add_docs
from api.http_metrics import HttpMetrics
from api.middleware import ApiMiddleware
from api.openapi_document import truthful_openapi
from api.problems import add_problem_handlers
from api.routes import (
    analytics,
    audit,
    couriers,
    deliveries,
    devices,
    health,
    order_live,
    orders,
    payments,
    restaurants,
)
from api.routes.live import LiveEntrance
from application.settings import Settings

VERSION = "1.0.0"
DESCRIPTION = (
    "Tiffin's HTTP API (API.md). Positions: a command's `position` is the notification id of "
    "its last event in the log of the context it changed (Restaurants for restaurants and "
    "menus, Ordering for orders, Payments for payments, Deliveries for couriers and "
    "deliveries); `min_position` on a query waits for that position of the log the query's "
    "view follows, as each parameter says."
)
PartsOpener = Callable[[], AbstractAsyncContextManager[ApiParts]]


def create_app(settings: Settings, registry: CollectorRegistry, open_parts: PartsOpener) -> FastAPI:
    """The API; ``registry`` collects its HTTP metrics (and is served on /metrics)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_parts() as parts:
            app.state.parts = parts
            yield

    app = FastAPI(
        title="Tiffin",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(limit_anonymous)],
        docs_url=None,  # served by add_docs, without a CDN
        redoc_url=None,  # ReDoc has no package to serve it from: Swagger UI is the one page
    )
    add_docs(app)
    add_problem_handlers(app, refusal_of_anonymous)
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
    app.add_middleware(LiveEntrance)  # outermost but for Starlette's error middleware
    routers = (
        health,
        restaurants,
        orders,
        order_live,
        payments,
        couriers,
        deliveries,
        devices,
    )
    for module in (*routers, audit, analytics):
        app.include_router(module.router)
    app.openapi = truthful_openapi(app, settings.max_item_price)  # type: ignore[method-assign]
    return app
