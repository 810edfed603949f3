"""An HTTP/3 client on aioquic: one QUIC connection, any number of concurrent requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, ErrorCode, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

Headers = dict[str, str]


class H3ConnectionError(ConnectionError):
    """The QUIC connection could not be made, or ended; the message says why."""


@dataclass(frozen=True)
class H3Response:
    """A whole response; header names are lower case, repeated ones joined with ", "."""

    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _Exchange:
    """One request's response as it arrives: the head once, then chunks, then None."""

    def __init__(self) -> None:
        self.head: asyncio.Future[tuple[int, Headers]] = asyncio.get_running_loop().create_future()
        # Marks a failure nobody waited for as seen, so asyncio does not log it.
        self.head.add_done_callback(lambda head: head.cancelled() or head.exception())
        self.chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()

    def fail(self, error: Exception) -> None:
        if not self.head.done():
            self.head.set_exception(error)
        self.chunks.put_nowait(error)


def _retrieve_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _H3Protocol(QuicConnectionProtocol):
    """Routes HTTP/3 events to the exchange waiting on their stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic)
        self._exchanges: dict[int, _Exchange] = {}
        self.closed_because: str | None = None

    async def wait_connected(self) -> None:
        """As aioquic's, except that a handshake given up on (a timeout) leaves no error behind
        for asyncio to report as never retrieved when the connection is later torn down."""
        if self._connected_waiter is not None:
            raise RuntimeError("Already awaiting connected")
        if not self._connected:
            waiter = self._connected_waiter = self._loop.create_future()
            waiter.add_done_callback(_retrieve_outcome)
            await asyncio.shield(waiter)

    def open_stream(
        self, request_headers: list[tuple[bytes, bytes]], body: bytes, *, tunnel: bool = False
    ) -> H3Stream:
        """A request; ``tunnel``: its stream stays open for ``H3Stream.send`` (a CONNECT)."""
        if self.closed_because is not None:
            raise H3ConnectionError(f"QUIC connection closed: {self.closed_because}")
        stream_id = self._quic.get_next_available_stream_id()
        exchange = self._exchanges[stream_id] = _Exchange()
        self._http.send_headers(stream_id, request_headers, end_stream=not body and not tunnel)
        if body:
            self._http.send_data(stream_id, body, end_stream=not tunnel)
        self.transmit()
        return H3Stream(self, stream_id, exchange)

    def send(self, stream_id: int, data: bytes) -> None:
        if self.closed_because is not None:
            raise H3ConnectionError(f"QUIC connection closed: {self.closed_because}")
        self._http.send_data(stream_id, data, end_stream=False)
        self.transmit()

    def abandon(self, stream_id: int) -> None:
        """Tells the server to stop sending, if the response has not ended yet."""
        if self._exchanges.pop(stream_id, None) is None or self.closed_because is not None:
            return
        with contextlib.suppress(ValueError):  # the stream is already gone on our side
            self._quic.stop_stream(stream_id, ErrorCode.H3_REQUEST_CANCELLED)
        self._quic.reset_stream(stream_id, ErrorCode.H3_REQUEST_CANCELLED)
        self.transmit()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            reason = event.reason_phrase or "no reason given"
            self.closed_because = f"{reason} (code {event.error_code:#x})"
            for exchange in self._exchanges.values():
                exchange.fail(H3ConnectionError(f"QUIC connection closed: {self.closed_because}"))
            self._exchanges.clear()
        elif isinstance(event, StreamReset) and event.stream_id in self._exchanges:
            error = H3ConnectionError(f"the server reset the stream (code {event.error_code:#x})")
            self._exchanges.pop(event.stream_id).fail(error)
        for http_event in self._http.handle_event(event):
            self._route(http_event)

    def _route(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived):
            return
        exchange = self._exchanges.get(event.stream_id)
        if exchange is None:
            return
        if isinstance(event, HeadersReceived) and not exchange.head.done():
            status, headers = _response_head(event.headers)
            if status >= 200:  # informational responses come before the real one
                exchange.head.set_result((status, headers))
        elif isinstance(event, DataReceived) and event.data:
            exchange.chunks.put_nowait(event.data)
        if event.stream_ended:
            del self._exchanges[event.stream_id]
            if not exchange.head.done():
                exchange.fail(H3ConnectionError("the response ended without a status"))
            exchange.chunks.put_nowait(None)


class H3Stream:
    """A response read as it arrives: ``head()``, then ``async for chunk in stream``.

    Use it as an async context manager (or call ``aclose``) so that a response left
    unfinished is cancelled on the server.
    """

    def __init__(self, protocol: _H3Protocol, stream_id: int, exchange: _Exchange) -> None:
        self._protocol, self._stream_id, self._exchange = protocol, stream_id, exchange
        self._ended = False

    async def head(self) -> tuple[int, Headers]:
        """The status and headers, once they arrive."""
        return await asyncio.shield(self._exchange.head)

    def __aiter__(self) -> H3Stream:
        return self

    async def __anext__(self) -> bytes:
        await self.head()
        chunk = None if self._ended else await self._exchange.chunks.get()
        if isinstance(chunk, Exception):
            self._exchange.chunks.put_nowait(chunk)  # so that reading on fails the same way
            raise chunk
        if chunk is None:
            self._ended = True
            raise StopAsyncIteration
        return chunk

    def send(self, data: bytes) -> None:
        """More of the request's body (a tunnel's: see ``H3Client.stream``)."""
        self._protocol.send(self._stream_id, data)

    async def aclose(self) -> None:
        """Cancels the request on the server unless the response has ended."""
        self._protocol.abandon(self._stream_id)

    async def __aenter__(self) -> H3Stream:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class H3Client:
    """One QUIC connection to ``host:port``; use ``async with H3Client(...) as client``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        cafile: Path | None,
        server_name: str = "localhost",
        verify: bool = True,
        connect_timeout_seconds: float = 5.0,
        idle_timeout_seconds: float = 30.0,
    ) -> None:
        self._host, self._port, self._connect_timeout = host, port, connect_timeout_seconds
        authority_host = f"[{server_name}]" if ":" in server_name else server_name
        self._authority = f"{authority_host}:{port}".encode()
        self._configuration = QuicConfiguration(
            is_client=True,
            alpn_protocols=H3_ALPN,
            server_name=server_name,
            idle_timeout=idle_timeout_seconds,
        )
        if not verify:
            self._configuration.verify_mode = ssl.CERT_NONE
        elif cafile is not None:
            self._configuration.load_verify_locations(cafile=str(cafile))
        self._connection: AbstractAsyncContextManager[QuicConnectionProtocol] | None = None
        self._protocol: _H3Protocol | None = None

    async def __aenter__(self) -> H3Client:
        where = f"{self._host}:{self._port}"
        created: list[_H3Protocol] = []  # aioquic's bare ConnectionError omits the reason

        def create_protocol(*args: Any, **kwargs: Any) -> _H3Protocol:
            created.append(_H3Protocol(*args, **kwargs))
            return created[-1]

        self._connection = connect(
            self._host,
            self._port,
            configuration=self._configuration,
            create_protocol=create_protocol,
        )
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._connection.__aenter__()
        except TimeoutError:
            raise H3ConnectionError(
                f"no HTTP/3 answer from {where} within {self._connect_timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as error:
            reason = (created and created[-1].closed_because) or str(error) or repr(error)
            raise H3ConnectionError(f"QUIC handshake with {where} failed: {reason}") from error
        self._protocol = created[-1]
        return self

    async def __aexit__(self, *exception: Any) -> None:
        if self._connection is not None:
            await self._connection.__aexit__(*exception)

    def stream(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        protocol: str | None = None,
    ) -> H3Stream:
        """Sends the request now; the response is read from the returned stream. With
        ``protocol`` (extended CONNECT, RFC 9220: ``websocket``) the stream stays open both
        ways, for ``H3Stream.send``."""
        if self._protocol is None:
            raise RuntimeError("H3Client is used outside `async with`")
        request_headers = [
            (b":method", method.upper().encode()),
            (b":scheme", b"https"),
            (b":authority", self._authority),
            (b":path", path.encode()),
        ]
        if protocol is not None:
            request_headers.append((b":protocol", protocol.encode()))
        for name, value in (headers or {}).items():
            request_headers.append((name.lower().encode(), value.encode()))
        return self._protocol.open_stream(request_headers, body, tunnel=protocol is not None)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> H3Response:
        """Sends one request on its own stream and waits for the whole response."""
        async with self.stream(method, path, headers=headers, body=body) as response:
            status, response_headers = await response.head()
            chunks = [chunk async for chunk in response]
        return H3Response(status, response_headers, b"".join(chunks))


def h3_request(
    url: str,
    method: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    cafile: Path | None = None,
    verify: bool = True,
    connect_timeout_seconds: float = 5.0,
) -> H3Response:
    """One request to an ``https://`` URL over a connection of its own."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"not an https:// URL: {url}")
    host, port = parts.hostname, parts.port or 443
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def one_request() -> H3Response:
        async with H3Client(
            host,
            port,
            cafile=cafile,
            server_name=host,
            verify=verify,
            connect_timeout_seconds=connect_timeout_seconds,
        ) as client:
            return await client.request(method, path, headers=headers, body=body)

    return asyncio.run(one_request())


def _response_head(raw: list[tuple[bytes, bytes]]) -> tuple[int, Headers]:
    status, headers = 0, Headers()
    for raw_name, raw_value in raw:
        name, value = raw_name.decode().lower(), raw_value.decode()
        if name == ":status":
            status = int(value)
        elif not name.startswith(":"):
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return status, headers
