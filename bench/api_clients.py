"""The API benchmark's clients: one connection each, one request at a time.

``raw``: HTTP/1.1 keep-alive over asyncio TLS, a request written by hand and the response read
with ``readuntil``/``readexactly`` (Content-Length or chunked): the lightest client here.
``httpx``: an ``httpx.AsyncClient`` limited to one HTTP/1.1 connection, for comparison.
``h3``: ``cli.h3_client.H3Client``, one QUIC connection (shared by every client with
``shared_h3``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

from cli.h3_client import H3Client

Headers = Mapping[str, str]


class Client(Protocol):
    async def request(
        self, method: str, path: str, headers: Headers, body: bytes = b""
    ) -> tuple[int, bytes]: ...


class RawHttp1:
    """HTTP/1.1 keep-alive on one TLS connection."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        self._host, self._port, self._context = host, port, context
        self._authority = f"localhost:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self._host, self._port, ssl=self._context, server_hostname="localhost"
        )

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = self._reader = None

    async def request(
        self, method: str, path: str, headers: Headers, body: bytes = b""
    ) -> tuple[int, bytes]:
        if self._writer is None:
            await self.connect()
        try:
            return await self._exchange(method, path, headers, body)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await self.close()  # the next request reconnects
            raise

    async def _exchange(
        self, method: str, path: str, headers: Headers, body: bytes
    ) -> tuple[int, bytes]:
        reader, writer = self._reader, self._writer
        assert reader is not None
        assert writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"host: {self._authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                fields[name.strip().lower()] = value.strip()
        ends_at_eof = False
        if "content-length" in fields:
            content = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            content = await _chunked(reader)
        else:
            content, ends_at_eof = await reader.read(), True
        if ends_at_eof or fields.get("connection", "").lower() == "close":
            await self.close()
        return status, content


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpxHttp1:
    """One httpx connection (HTTP/1.1 only)."""

    def __init__(self, base_url: str, context: ssl.SSLContext) -> None:
        import httpx  # a dev dependency: only this comparison needs it

        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._client = httpx.AsyncClient(
            base_url=base_url, verify=context, http1=True, http2=False, limits=limits
        )

    async def request(
        self, method: str, path: str, headers: Headers, body: bytes = b""
    ) -> tuple[int, bytes]:
        response = await self._client.request(method, path, headers=dict(headers), content=body)
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


class Http3:
    """An ``H3Client``'s connection (possibly shared)."""

    def __init__(self, client: H3Client) -> None:
        self._client = client

    async def request(
        self, method: str, path: str, headers: Headers, body: bytes = b""
    ) -> tuple[int, bytes]:
        response = await self._client.request(method, path, headers=headers, body=body)
        return response.status, response.body


def tls_context(cafile: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile))
    context.set_alpn_protocols(["http/1.1"])
    return context


async def open_clients(
    stack: AsyncExitStack,
    kind: str,
    count: int,
    host: str,
    port: int,
    cafile: Path,
    *,
    shared_h3: bool = False,
) -> list[Client]:
    """``count`` connected clients of ``kind`` (raw, httpx or h3), closed with ``stack``."""
    clients: list[Client] = []
    if kind == "h3":
        connections = 1 if shared_h3 else count
        h3 = [
            await stack.enter_async_context(H3Client(host, port, cafile=cafile))
            for _ in range(connections)
        ]
        return [Http3(h3[n % connections]) for n in range(count)]
    context = tls_context(cafile)
    for _ in range(count):
        client: Any
        if kind == "raw":
            client = RawHttp1(host, port, context)
            await client.connect()
        elif kind == "httpx":
            client = HttpxHttp1(f"https://{host}:{port}", context)
        else:
            raise ValueError(f"no client {kind!r}")
        stack.push_async_callback(client.close)
        clients.append(client)
    return clients
