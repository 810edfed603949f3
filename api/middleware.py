"""The ASGI layer every request passes: request id, security headers, body limit, the last
line of defence against 500s, JSON access logs and request metrics.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it adds no task per request and lets
streamed responses (SSE, CSV) through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any
from uuid import uuid4

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http_metrics import HttpMetrics
from api.problems import PROBLEM_JSON, ApiProblem, as_problem, problem_body

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
)
DRAIN_MAX_BYTES = 16 * 1024 * 1024
DRAIN_WAIT_SECONDS = 2.0
access_log = logging.getLogger("tiffin.access")


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body is read (FastAPI lets HTTP exceptions through unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class ApiMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: HttpMetrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        extra = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]

        body = _BodyRead()
        ambiguous = _length_and_chunked(scope)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
                if ambiguous:
                    message["headers"].append((b"connection", b"close"))
                elif not _multiplexed(scope) and not await self._body_read_past(
                    scope, receive, body
                ):
                    # The unread rest of the body is still on the wire: this connection is done.
                    message["headers"].append((b"connection", b"close"))
            await send(message)

        try:
            if ambiguous:
                raise ApiProblem(
                    400, "a request must not carry both Content-Length and Transfer-Encoding"
                )
            if self._declared_length(scope) > self.max_body_bytes:
                raise BodyTooLarge(self.max_body_bytes)
            if "\x00" in scope["path"] or b"%00" in scope["query_string"].lower():
                raise ApiProblem(400, "the URL must not contain NUL (%00) characters")
            multiplexed = _multiplexed(scope)
            await self.app(scope, self._limited(receive, body, multiplexed), send_with_headers)
        except Exception as error:
            if status:  # the response had begun: nothing better can be sent now
                access_log.error("request %s failed mid-response", request_id, exc_info=error)
            else:
                problem = as_problem(error, request_id)
                status = problem.status
                await _send_problem(send_with_headers, problem)
        finally:
            if status == 413 and not body.done and _multiplexed(scope):  # refused unread
                await _drain(receive)
            self._record(scope, status, time.perf_counter() - started, request_id)

    async def _body_read_past(self, scope: Scope, receive: Receive, body: _BodyRead) -> bool:
        """HTTP/1.1 answered before its body was read (no such route, say): reads the rest,
        within the limit, so that the connection can serve the next request. False when it
        cannot (too large, or too slow): then the server closes the connection."""
        if body.done or not _has_body(scope):
            return True
        if body.seen > self.max_body_bytes:
            return False
        drained = await _drain(receive, self.max_body_bytes - body.seen)
        body.done = drained
        return drained

    def _declared_length(self, scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    def _limited(self, receive: Receive, body: _BodyRead, multiplexed: bool) -> Receive:
        async def receive_limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.seen += len(message.get("body", b""))
                body.done = not message.get("more_body", False)
                if body.seen > self.max_body_bytes:
                    if multiplexed and not body.done:
                        await _drain(receive)
                        body.done = True
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        return receive_limited

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = str(getattr(scope.get("route"), "path", None) or "unmatched")
        method = scope["method"]
        self.metrics.observe(route, method, status, seconds)
        line: dict[str, Any] = {
            "request_id": request_id,
            "method": method,
            "path": scope["path"],
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 2),
            "http": scope.get("http_version"),
            "user": scope.get("state", {}).get("subject"),
        }
        access_log.info(json.dumps(line))


class _BodyRead:
    """How much of the request body the app has read, and whether all of it."""

    def __init__(self) -> None:
        self.seen = 0
        self.done = False


def _length_and_chunked(scope: Scope) -> bool:
    """An HTTP/1.1 request framed two ways at once: a proxy in front may read it one way and
    this server the other (request smuggling). It is refused, and its connection closed."""
    names = {name for name, _ in scope["headers"]}
    return not _multiplexed(scope) and {b"content-length", b"transfer-encoding"} <= names


def _multiplexed(scope: Scope) -> bool:
    return not str(scope.get("http_version", "1.1")).startswith("1")


async def _drain(receive: Receive, at_most: int = DRAIN_MAX_BYTES) -> bool:
    """Reads (and drops) the rest of a refused body, up to a bound, before answering: on
    HTTP/2 and HTTP/3 the server would otherwise queue it for an app no longer reading, and
    stall the whole connection; on HTTP/1.1 the connection could not serve another request.
    True when the body ended within the bound."""
    drained = 0
    with contextlib.suppress(TimeoutError):
        while drained <= at_most:
            message = await asyncio.wait_for(receive(), DRAIN_WAIT_SECONDS)
            if message["type"] != "http.request":
                return False
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return drained <= at_most
    return False


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = bytes(value).decode("latin-1")
            if REQUEST_ID.match(given):
                return given
    return uuid4().hex


async def _send_problem(send: Send, problem: ApiProblem) -> None:
    body = json.dumps(
        problem_body(problem.status, problem.detail, problem.errors, problem.members)
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
