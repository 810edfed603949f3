"""``tiffin serve`` wired: the certificate, the API over the platform, and Hypercorn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.tls_certificate import ensure_certificate
from api.server import hypercorn_config, run_server
from application.settings import Settings
from wiring.bootstrap import bootstrap
from wiring.http_app import create_app
from wiring.telemetry import start_tracing, stop_tracing


def certificate_of(settings: Settings) -> tuple[Path, Path, bool]:
    """The configured certificate and key, or the self-signed pair made in the data dir
    (True when it is that one)."""
    if settings.tls_cert is not None and settings.tls_key is not None:
        return settings.tls_cert, settings.tls_key, False
    cert, key = ensure_certificate(settings.data_dir)
    return cert, key, True


def serve(
    settings: Settings,
    graceful_seconds: float,
    on_ready: Callable[[Path, bool], None],
) -> None:
    """Serves the API until SIGTERM or SIGINT; ``on_ready(certificate, generated)`` is called
    once it listens."""
    cert, key, generated = certificate_of(settings)
    config = hypercorn_config(
        settings.host,
        settings.port,
        cert,
        key,
        graceful_seconds=graceful_seconds,
        plain_port=settings.plain_port,
    )
    start_tracing(settings, "tiffin-api")
    try:
        # Built before listening, so what it refuses (a wrong cipher key) stops the start.
        app = create_app(settings, bootstrap(settings), owns_platform=True)
        run_server(
            app,
            config,
            on_ready=lambda: on_ready(cert, generated),
            on_stop=lambda: app.state.parts.live.go_away(),  # WebSockets and SSE streams end
        )
    finally:
        stop_tracing()
