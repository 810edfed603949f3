"""The HTTP API served by Hypercorn in a thread of the test process, over real TLS sockets.

``api_server(settings)`` builds ``wiring.http_app.create_app(settings, tiffin, clock)`` and
serves it on a free port of 127.0.0.1 (HTTP/1.1 and HTTP/2 over TCP; the HTTP/3 listener is
left out, these tests speak TCP) on an event loop of its own, until the ``with`` block ends. On the
embedded default the app runs every worker itself; in server mode ``platform(settings)`` starts
the platform and its workers in this process for the app to use. ``serving(mode, ...)`` does
either: "embedded" (SQLite, in-process limiter) or "server" (a fresh PostgreSQL schema, Redis
under a scratch prefix).

Tokens are platform tokens signed with ``JWT_SECRET``; webhooks are signed with
``WEBHOOK_SECRET`` (both set in the settings ``api_environ`` makes).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import httpx
import uvloop
from hypercorn.asyncio import serve
from hypercorn.typing import ASGIFramework

from adapters.platform_tokens import PlatformTokens
from adapters.tls_certificate import ensure_certificate
from api.server import hypercorn_config
from application.settings import Settings, load_settings
from bench.api_server import free_port
from domain.values import Role
from tests.postgres import fresh_schema
from tests.redis_server import REDIS_URL, scratch_prefix
from wiring.bootstrap import Tiffin, bootstrap
from wiring.http_app import create_app

JWT_SECRET = "api-tests-platform-token-secret-0123456789"
WEBHOOK_SECRET = "api-tests-payment-webhook-secret"
UNLIMITED = "1000000"  # a rate limit no test reaches, for the tests that are not about limits
START_WITHIN_SECONDS = 20.0
STOP_WITHIN_SECONDS = 15.0
ROLES = (Role.CUSTOMER, Role.RESTAURANT, Role.COURIER, Role.ADMIN, Role.ANALYST, Role.AUDITOR)


def api_environ(data_dir: Path, **tiffin: str) -> dict[str, str]:
    """TIFFIN_* variables for a test server: payments captured only by the test's webhooks,
    known secrets, no rate limit in reach; ``tiffin`` adds or replaces (``RATE_LIMIT_…="7"``)."""
    environ = {
        "DATA_DIR": str(data_dir),
        "SIMULATED_CAPTURE_SECONDS": "-1",
        "JWT_SECRET": JWT_SECRET,
        "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "RATE_LIMIT_PER_MINUTE": UNLIMITED,
        "RATE_LIMIT_ORDERS_PER_MINUTE": UNLIMITED,
        "RATE_LIMIT_ANONYMOUS_PER_MINUTE": UNLIMITED,
        "RATE_LIMIT_WEBHOOKS_PER_MINUTE": UNLIMITED,
        "RATE_LIMIT_LOCATION_PINGS_PER_SECOND": "1000",
        **tiffin,
    }
    return {f"TIFFIN_{name}": value for name, value in environ.items()}


def api_settings(data_dir: Path, **tiffin: str) -> Settings:
    return load_settings(api_environ(data_dir, **tiffin))


def server_mode_settings(data_dir: Path, postgres_url: str, prefix: str, **tiffin: str) -> Settings:
    """Server mode: PostgreSQL at ``postgres_url``, the test Redis under ``prefix``."""
    return api_settings(
        data_dir, DATABASE_URL=postgres_url, REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix, **tiffin
    )


@contextmanager
def platform(settings: Settings) -> Iterator[Tiffin]:
    """The platform with every worker running in this process (server mode's `tiffin worker`
    processes, in-process)."""
    with bootstrap(settings) as tiffin:
        runtime = tiffin.runtime()
        runtime.start()
        try:
            yield tiffin
        finally:
            runtime.stop()


@contextmanager
def serving(
    mode: str, data_dir: Path, database_url: str | None = None, **tiffin: str
) -> Iterator[ApiServer]:
    """The API on the embedded default (``mode`` "embedded": SQLite files, in-process workers
    and rate limiter) or in server mode ("server": a fresh schema of ``database_url``, Redis
    under a scratch prefix, the workers in this process)."""
    if mode == "embedded":
        with api_server(api_settings(data_dir, **tiffin)) as server:
            yield server
        return
    assert database_url is not None, "server mode needs a PostgreSQL database"
    with fresh_schema(database_url) as url, scratch_prefix() as prefix:
        settings = server_mode_settings(data_dir, url, prefix, **tiffin)
        with platform(settings) as running, api_server(settings, running) as server:
            yield server


@dataclass
class ApiServer:
    port: int
    cert: Path
    settings: Settings
    tokens: PlatformTokens

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the server's self-signed certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))

    def token(self, role: Role, sub: str | None = None) -> str:
        return self.tokens.issue(sub or new_subject(role), role, ttl_seconds=3600)

    def auth(self, role: Role, sub: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub)}"}

    def client(self, *, http2: bool = False, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, verify=self.ssl_context(), http2=http2, timeout=timeout
        )

    def async_client(
        self, *, http2: bool = True, connections: int = 10, timeout: float = 60.0
    ) -> httpx.AsyncClient:
        """HTTP/2 multiplexes every request over few connections; HTTP/1.1 needs one per
        request in flight (``connections`` bounds them)."""
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(
            base_url=self.url,
            verify=self.ssl_context(),
            http2=http2,
            http1=not http2,
            limits=limits,
            timeout=timeout,
        )


def new_subject(role: Role | str) -> str:
    return f"{role}-{uuid4().hex[:12]}"


@contextmanager
def api_server(
    settings: Settings,
    tiffin: Tiffin | None = None,
    clock: Callable[[], float] = time.time,
) -> Iterator[ApiServer]:
    """Serves ``create_app(settings, tiffin, clock)`` until the block ends."""
    cert, key = ensure_certificate(settings.data_dir)
    port = free_port()
    app = create_app(settings, tiffin, clock)
    config = hypercorn_config("127.0.0.1", port, cert, key, graceful_seconds=2.0)
    config.quic_bind = []  # TCP only: an idle QUIC listener would hold up the shutdown
    ready = threading.Event()
    failures: list[BaseException] = []
    holder: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), stop

        async def shutdown_trigger() -> None:
            ready.set()  # Hypercorn awaits this once its sockets are bound and served
            await stop.wait()

        await serve(cast(ASGIFramework, app), config, shutdown_trigger=shutdown_trigger)

    def run() -> None:
        try:
            uvloop.run(main())
        except BaseException as error:
            failures.append(error)
            ready.set()

    thread = threading.Thread(target=run, name=f"api-server-{port}", daemon=True)
    thread.start()
    if not ready.wait(START_WITHIN_SECONDS) or failures:
        raise AssertionError(f"the API server did not start: {failures!r}")
    try:
        yield ApiServer(port, cert, settings, PlatformTokens(JWT_SECRET.encode()))
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(STOP_WITHIN_SECONDS)
        assert not thread.is_alive(), "the API server did not stop"
        assert not failures, f"the API server failed: {failures!r}"
