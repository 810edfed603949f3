"""Tracing for this process (part of the composition root): started by `tiffin serve` and
`tiffin worker` when TIFFIN_OTEL_ENDPOINT is set, and handed to the parts that open spans."""

from __future__ import annotations

from adapters.telemetry import Tracing
from application.settings import Settings

_active: list[Tracing] = []  # the process's, once started


def start_tracing(settings: Settings, service: str) -> Tracing | None:
    """The process's tracing (``service`` unless TIFFIN_OTEL_SERVICE_NAME names another), or
    None when TIFFIN_OTEL_ENDPOINT is not set."""
    if settings.otel_endpoint is None:
        return None
    if not _active:
        name = settings.otel_service_name or service
        _active.append(Tracing(settings.otel_endpoint, name, settings.otel_sample_ratio))
    return _active[0]


def active_tracing() -> Tracing | None:
    return _active[0] if _active else None


def stop_tracing() -> None:
    """Exports what is left; the process traces no more."""
    while _active:
        _active.pop().close()
