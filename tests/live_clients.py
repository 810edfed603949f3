"""WebSocket clients of ``/v1/live`` for the tests, over real sockets: HTTP/1.1 (the
``websockets`` library), HTTP/2 (RFC 8441, extended CONNECT over h2, frames by wsproto) and
HTTP/3 (RFC 9220, extended CONNECT over aioquic). Each answers the server's pings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import h2.config
import h2.connection
import h2.events
import h2.settings
import websockets
from websockets.asyncio.client import ClientConnection
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Message, Ping, TextMessage

from cli.h3_client import H3Client, H3Stream
from tests.api_process import ApiServer

WITHIN_SECONDS = 10.0
LIVE_VERSIONS = ("HTTP/1.1", "HTTP/2", "HTTP/3")
PLAIN = "HTTP/1.1 without TLS"  # TIFFIN_PLAIN_PORT's: behind a proxy that terminates TLS


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class Frames(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def receive_text(self) -> str:
        """The next text message; Closed once the server closed the connection."""
        ...


class LiveClient:
    """Messages of one connection, read as they come by a task of the client's (which
    answers the server's pings, as an app does, unless ``answering`` is off)."""

    def __init__(self, frames: Frames, answering: bool = True) -> None:
        self.frames = frames
        self.answering = answering
        self.pings = 0
        self._messages: asyncio.Queue[dict[str, Any] | Closed] = asyncio.Queue()
        self._reading: asyncio.Task[None] | None = None

    def start(self) -> None:
        release = getattr(self.frames, "release", None)
        if release is not None:
            release()
        self._reading = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)

    async def _read(self) -> None:
        try:
            while True:
                message: dict[str, Any] = json.loads(await self.frames.receive_text())
                if message["type"] == "ping":
                    self.pings += 1
                    if self.answering:
                        await self.send({"type": "pong"})
                    continue
                self._messages.put_nowait(message)
        except Closed as closed:
            self._messages.put_nowait(closed)

    async def send(self, message: dict[str, Any]) -> None:
        await self.frames.send_text(json.dumps(message))

    async def next(self, within: float = WITHIN_SECONDS) -> dict[str, Any]:
        async with asyncio.timeout(within):
            item = await self._messages.get()
        if isinstance(item, Closed):
            self._messages.put_nowait(item)
            raise item
        return item

    async def subscribe(self, topic: str, after: str | None = None) -> dict[str, Any]:
        """Subscribes; the first message about the topic (a snapshot, an update, an error)."""
        await self.send({"type": "subscribe", "topic": topic, "after": after})
        return await self.next_about(topic)

    async def next_about(self, topic: str, within: float = WITHIN_SECONDS) -> dict[str, Any]:
        while True:
            message = await self.next(within)
            if message.get("topic") == topic:
                return message

    async def closed(self, within: float = WITHIN_SECONDS) -> Closed:
        """Reads until the server closes the connection: how it closed it."""
        try:
            while True:
                await self.next(within)
        except Closed as closed:
            return closed


class _H1Frames:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send_text(self, text: str) -> None:
        await self.connection.send(text)

    async def receive_text(self) -> str:
        try:
            received = await self.connection.recv()
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            raise Closed(code, closed.rcvd.reason if closed.rcvd else "") from None
        return received if isinstance(received, str) else received.decode()


class _TunnelFrames:
    """WebSocket frames (wsproto, no handshake) over an extended-CONNECT stream."""

    def __init__(self, send: Any, send_waiting: Any = None) -> None:
        self.ws = Connection(ConnectionType.CLIENT)
        self._send = send  # bytes -> None (sync) on the tunnel
        self._send_waiting = send_waiting  # bytes -> awaitable: waits for flow control
        self.messages: asyncio.Queue[str | Closed] = asyncio.Queue()
        self._parts: list[str] = []
        self.release: Any = None  # HTTP/2: gives back the flow-control window held so far

    def received(self, data: bytes | None) -> None:
        if data is None:
            self.messages.put_nowait(Closed(None, "the stream ended"))
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    self.messages.put_nowait("".join(self._parts))
                    self._parts.clear()
            elif isinstance(event, Ping):
                self._send(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.messages.put_nowait(Closed(event.code, event.reason or ""))
            elif isinstance(event, Message):
                pass  # binary: the server sends none

    async def send_text(self, text: str) -> None:
        data = self.ws.send(TextMessage(data=text))
        if self._send_waiting is not None:
            await self._send_waiting(data)
        else:
            self._send(data)

    async def receive_text(self) -> str:
        item = await self.messages.get()
        if isinstance(item, Closed):
            self.messages.put_nowait(item)
            raise item
        return item


def _upgrade_headers(token: str | None) -> dict[str, str]:
    headers = {"sec-websocket-version": "13"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


@asynccontextmanager
async def _h1(server: ApiServer, token: str | None, hold: bool = False) -> AsyncIterator[Frames]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    url = f"wss://127.0.0.1:{server.port}/v1/live"
    async with websockets.connect(
        url, ssl=server.ssl_context(), additional_headers=headers, max_size=2**24
    ) as connection:
        yield _H1Frames(connection)


@asynccontextmanager
async def _plain(server: ApiServer, token: str | None, hold: bool = False) -> AsyncIterator[Frames]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    port = server.environ["TIFFIN_PLAIN_PORT"]
    url = f"ws://127.0.0.1:{port}/v1/live"
    async with websockets.connect(url, additional_headers=headers, max_size=2**24) as connection:
        yield _H1Frames(connection)


@asynccontextmanager
async def _h2(server: ApiServer, token: str | None, hold: bool = False) -> AsyncIterator[Frames]:
    """``hold``: no flow-control window is given back until ``frames.release()``, so the
    server may send the stream no more than its first window (64 KiB): a slow follower."""
    context = server.ssl_context()
    context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=context)
    assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
    h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    h2c.initiate_connection()
    writer.write(h2c.data_to_send())
    stream_id = h2c.get_next_available_stream_id()

    window = asyncio.Event()  # the server gave the stream more window

    def send(data: bytes) -> None:
        h2c.send_data(stream_id, data)
        writer.write(h2c.data_to_send())

    async def send_waiting(data: bytes) -> None:
        while h2c.local_flow_control_window(stream_id) < len(data):
            window.clear()
            await window.wait()
        send(data)
        await writer.drain()

    frames = _TunnelFrames(send, send_waiting)
    answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    held = [0] if hold else None

    def release() -> None:
        nonlocal held
        if held is not None and held[0]:
            h2c.acknowledge_received_data(held[0], stream_id)
            writer.write(h2c.data_to_send())
        held = None

    frames.release = release

    async def pump() -> None:
        while data := await reader.read(65_536):
            for event in h2c.receive_data(data):
                if isinstance(event, h2.events.RemoteSettingsChanged) and stream_id == 1:
                    enabled = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
                    if enabled in event.changed_settings and not answered.done():
                        _connect(h2c, stream_id, server.port, token)
                elif isinstance(event, h2.events.ResponseReceived):
                    answered.set_result(int(dict(event.headers)[b":status"]))
                elif isinstance(event, h2.events.DataReceived):
                    if held is None:
                        h2c.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    else:
                        held[0] += event.flow_controlled_length
                    frames.received(event.data)
                elif isinstance(event, h2.events.WindowUpdated):
                    window.set()
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    frames.received(None)
            writer.write(h2c.data_to_send())
        frames.received(None)

    pumping = asyncio.create_task(pump())
    try:
        status = await asyncio.wait_for(answered, WITHIN_SECONDS)
        assert status == 200, f"extended CONNECT answered {status}"
        yield frames
    finally:
        pumping.cancel()
        writer.close()


def _connect(h2c: Any, stream_id: int, port: int, token: str | None) -> None:
    headers = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":path", "/v1/live"),
        (":authority", f"127.0.0.1:{port}"),
        *_upgrade_headers(token).items(),
    ]
    h2c.send_headers(stream_id, headers)


@asynccontextmanager
async def _h3(server: ApiServer, token: str | None, hold: bool = False) -> AsyncIterator[Frames]:
    async with H3Client("127.0.0.1", server.port, cafile=server.cert) as client:
        stream: H3Stream = client.stream(
            "CONNECT", "/v1/live", headers=_upgrade_headers(token), protocol="websocket"
        )
        frames = _TunnelFrames(stream.send)
        status, _ = await asyncio.wait_for(stream.head(), WITHIN_SECONDS)
        assert status == 200, f"extended CONNECT answered {status}"

        async def pump() -> None:
            async for chunk in stream:
                frames.received(chunk)
            frames.received(None)

        pumping = asyncio.create_task(pump())
        try:
            yield frames
        finally:
            pumping.cancel()
            await stream.aclose()


@asynccontextmanager
async def live_client(
    server: ApiServer,
    token: str | None,
    version: str = "HTTP/1.1",
    *,
    reading: bool = True,
    answering: bool = True,
) -> AsyncIterator[LiveClient]:
    """A connection to ``/v1/live`` authenticated at the upgrade with ``token`` (None: the
    client authenticates by its first message, as a browser must). ``reading`` off: nothing
    is read until the test calls ``start()``, and over HTTP/2 the stream's flow-control window
    is held till then too (a follower too slow for its topics)."""
    opener = {"HTTP/1.1": _h1, "HTTP/2": _h2, "HTTP/3": _h3, PLAIN: _plain}[version]
    async with opener(server, token, hold=not reading) as frames:
        client = LiveClient(frames, answering)
        if reading:
            client.start()
        try:
            yield client
        finally:
            await client.stop()
