"""Serving the API: Hypercorn on uvloop, HTTP/1.1 and HTTP/2 over TCP, HTTP/3 over UDP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import cast

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework
from starlette.types import ASGIApp

from api.hypercorn_guards import survive_clients_misbehaving

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Fails QUIC header parsing (the fixed bit is zero), so Hypercorn drops it unanswered.
WAKE_UP_DATAGRAM = b"\x00"
WAKE_UP_INTERVAL_SECONDS = 0.05
LOOPBACK_FOR_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def hypercorn_config(
    host: str,
    port: int,
    certfile: Path,
    keyfile: Path,
    *,
    graceful_seconds: float = 10.0,
    plain_port: int | None = None,
) -> Config:
    """TLS on TCP ``host:port`` (h2, http/1.1) and QUIC on UDP ``host:port`` (h3); with
    ``plain_port``, also HTTP/1.1 and h2c without TLS on TCP ``host:plain_port``, for a proxy
    in front that terminates TLS (an ingress, a load balancer): each connection then costs
    no TLS state here.

    Hypercorn adds ``alt-svc: h3=":port"`` to every response by itself. Its access log is
    off: the app writes its own access lines.
    """
    config = Config()
    address = _address(host, port)
    config.bind = [address]
    config.quic_bind = [address]
    if plain_port is not None:
        config.insecure_bind = [_address(host, plain_port)]
    config.certfile = str(certfile)
    config.keyfile = str(keyfile)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through the process's logging
    config.graceful_timeout = graceful_seconds
    # Hypercorn's default (1,000) sends GOAWAY mid-burst to a busy HTTP/2 client.
    config.keep_alive_max_requests = 1_000_000
    survive_clients_misbehaving()  # Hypercorn itself, patched once for whoever serves this config
    return config


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_server(
    app: ASGIApp,
    config: Config,
    *,
    on_ready: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Serves ``app`` until SIGTERM or SIGINT, then shuts down gracefully and returns.

    On the signal the listening sockets close, ``on_stop`` is called (on the event loop: live
    connections are closed, so they do not hold the drain), requests in flight get up to
    ``config.graceful_timeout`` seconds to finish, then the app's lifespan shutdown runs.
    ``on_ready`` is called once, when every TCP and UDP socket is bound and served.
    """
    survive_clients_misbehaving()
    uvloop.run(_serve_until_signalled(app, config, on_ready, on_stop))


async def _serve_until_signalled(
    app: ASGIApp,
    config: Config,
    on_ready: Callable[[], None] | None,
    on_stop: Callable[[], None] | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(signal_number, stop.set)
    wake_ups: list[asyncio.Task[None]] = []

    async def shutdown_trigger() -> None:
        # Hypercorn awaits the trigger only once every TCP and UDP server has started,
        # after the app's lifespan startup (so a lifespan hook would fire before binding).
        if on_ready is not None:
            on_ready()
        await stop.wait()
        if on_stop is not None:
            on_stop()
        wake_ups.append(asyncio.create_task(_wake_quic_servers(config.quic_bind)))

    try:
        # Starlette and Hypercorn type the same ASGI callable with different scope types.
        await serve(cast(ASGIFramework, app), config, shutdown_trigger=shutdown_trigger)
    finally:
        for task in wake_ups:
            task.cancel()
        for signal_number in SHUTDOWN_SIGNALS:
            loop.remove_signal_handler(signal_number)


async def _wake_quic_servers(quic_binds: list[str]) -> None:
    """Nudges Hypercorn's UDP servers until the shutdown ends (this task is cancelled).

    Hypercorn's UDP server checks for shutdown only after receiving a datagram, so without
    one an idle server would hold the shutdown for the whole graceful timeout.
    """
    addresses = [address for bind in quic_binds if (address := _loopback_address(bind))]
    with contextlib.ExitStack() as sockets:
        senders = [
            (sockets.enter_context(_udp_socket(host)), (host, port)) for host, port in addresses
        ]
        while True:
            for sender, address in senders:
                with contextlib.suppress(OSError):
                    sender.sendto(WAKE_UP_DATAGRAM, address)
            await asyncio.sleep(WAKE_UP_INTERVAL_SECONDS)


def _loopback_address(bind: str) -> tuple[str, int] | None:
    """Where this process can reach a ``host:port`` QUIC bind; None for ports chosen later."""
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit() or int(port) == 0:
        return None
    host = host.removeprefix("[").removesuffix("]")
    return LOOPBACK_FOR_WILDCARD.get(host, host), int(port)


def _udp_socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sender = socket.socket(family, socket.SOCK_DGRAM)
    sender.setblocking(False)
    return sender
