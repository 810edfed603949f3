"""API requests over HTTP/1.1 or HTTP/2 (httpx) or HTTP/3 (``cli.h3_client``), all alike:
``send`` for whole responses (the ``Send`` of ``tests.api_flows``), ``stream`` for responses
read as they come, and ``sse_events`` to read Server-Sent Events with a deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from cli.h3_client import H3Client
from tests.api_checks import Reply
from tests.api_process import ApiServer

HTTP_VERSIONS = ("HTTP/1.1", "HTTP/2", "HTTP/3")
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Head:
    """A streamed response's status and headers (names in lower case), and its body chunks."""

    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class SseEvent:
    kind: str
    data: Any


def _request_headers(
    token: str | None, body: Any, headers: Mapping[str, str] | None
) -> tuple[dict[str, str], bytes]:
    """Headers and body bytes: bytes are sent as they are (already JSON), other bodies as JSON."""
    sent: dict[str, str] = {}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    content = b""
    if body is not None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent["content-type"] = "application/json"
    sent.update({name.lower(): value for name, value in (headers or {}).items()})
    return sent, content


def _parsed(headers: Mapping[str, str], content: bytes) -> Any:
    if not content:
        return None
    if "json" in headers.get("content-type", ""):
        return json.loads(content)
    return content.decode()


class Transport:
    """One client connection (pool) to the server over ``version``; ``versions`` collects
    the HTTP version of every response answered."""

    def __init__(self, version: str, server: ApiServer) -> None:
        self.version = version
        self.server = server
        self.versions: set[str] = set()
        self._httpx: httpx.AsyncClient | None = None
        self._h3: H3Client | None = None

    async def send(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent, content = _request_headers(token, body, headers)
        if self._h3 is not None:
            answer = await self._h3.request(method, path, headers=sent, body=content)
            self.versions.add("HTTP/3")
            return Reply(answer.status, answer.headers, _parsed(answer.headers, answer.body))
        assert self._httpx is not None
        response = await self._httpx.request(method, path, headers=sent, content=content or None)
        self.versions.add(response.http_version)
        received = {name.lower(): value for name, value in response.headers.items()}
        return Reply(response.status_code, received, _parsed(received, response.content))

    @asynccontextmanager
    async def stream(self, path: str, token: str) -> AsyncIterator[Head]:
        """GET ``path``, its body read as it arrives; leaving cancels it if unfinished."""
        sent, _ = _request_headers(token, None, {"accept": "text/event-stream"})
        if self._h3 is not None:
            async with self._h3.stream("GET", path, headers=sent) as h3_stream:
                status, received = await h3_stream.head()
                self.versions.add("HTTP/3")
                yield Head(status, received, aiter(h3_stream))
            return
        assert self._httpx is not None
        async with self._httpx.stream("GET", path, headers=sent) as response:
            self.versions.add(response.http_version)
            received = {name.lower(): value for name, value in response.headers.items()}
            yield Head(response.status_code, received, response.aiter_bytes())

    async def __aenter__(self) -> Transport:
        if self.version == "HTTP/3":
            self._h3 = H3Client("127.0.0.1", self.server.port, cafile=self.server.cert)
            await self._h3.__aenter__()
        else:
            self._httpx = httpx.AsyncClient(
                base_url=self.server.base_url,
                verify=self.server.ssl_context(),
                http1=self.version == "HTTP/1.1",
                http2=self.version == "HTTP/2",
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        return self

    async def __aexit__(self, *error: object) -> None:
        if self._h3 is not None:
            await self._h3.__aexit__(None, None, None)
        if self._httpx is not None:
            await self._httpx.aclose()


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[SseEvent]:
    """The events of a ``text/event-stream`` body (comments, e.g. keep-alives, skipped)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            kind, data = "message", []
            for line in block.decode().split("\n"):
                field, _, value = line.partition(":")
                if field == "event":
                    kind = value.strip()
                elif field == "data":
                    data.append(value.removeprefix(" "))
            if data:
                yield SseEvent(kind, json.loads("\n".join(data)))


async def next_event(events: AsyncIterator[SseEvent], within: float, waiting_for: str) -> SseEvent:
    """The next event, which must come within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            return await anext(events)
    except TimeoutError:
        raise AssertionError(
            f"no SSE event within {within} s (waiting for {waiting_for})"
        ) from None
    except StopAsyncIteration:
        raise AssertionError(f"the event stream ended (waiting for {waiting_for})") from None
