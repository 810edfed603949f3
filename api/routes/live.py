"""``/v1/live``: one WebSocket for every live topic a caller may follow (docs/api.md: Live).

The bearer token comes with the upgrade (``Authorization: Bearer …``) or, where a client cannot
set headers (a browser), as the first message ``{"type": "auth", "token": "…"}`` within
``AUTH_SECONDS``. Then the client sends ``subscribe`` / ``unsubscribe`` messages (``{"type":
"subscribe", "topic": "order:<id>", "after": "<position>"}``) and answers each ``ping`` with a
``pong``; the server sends what ``api/live_session.py`` describes. Close codes: 4001 no valid
token in time, 4029 too many connections without a token from the address, 4003 a role with no
live topics, 4008 a follower too slow for its topics (its
outbox overflowed: reconnect with the last position), 4009 no message (a pong) for two ping
intervals, 1003 a binary message, 1009 a message over ``MAX_MESSAGE_BYTES``, 1001 the server is
shutting down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.dependencies import ApiParts
from api.live_session import LiveSession
from api.live_topics import FOLLOWERS, LiveTopics
from api.problems import ApiProblem
from application.identity import Identity, InvalidToken

log = logging.getLogger(__name__)
PATH = "/v1/live"
AUTH_SECONDS = 5.0
MAX_MESSAGE_BYTES = 4096
UNAUTHENTICATED, ROLE_WITHOUT_TOPICS, SLOW_CONSUMER, NO_PONG = 4001, 4003, 4008, 4009
TOO_MANY = 4029  # connections without a token, from one address, over its limit
UNSUPPORTED, TOO_BIG, GOING_AWAY = 1003, 1009, 1001
REASONS = {  # the tiffin_live_closed_total label of each close code
    UNAUTHENTICATED: "unauthenticated",
    TOO_MANY: "too_many_without_token",
    ROLE_WITHOUT_TOPICS: "role_without_topics",
    SLOW_CONSUMER: "slow_consumer",
    NO_PONG: "no_pong",
    UNSUPPORTED: "unsupported_data",
    TOO_BIG: "message_too_big",
    GOING_AWAY: "going_away",
}


class Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def live_topics(parts: ApiParts) -> LiveTopics:
    return LiveTopics(parts.tracking, parts.hot_views, parts.settings.redis_prefix, parts.owners)


class LiveEntrance:
    """Serves ``/v1/live`` ahead of FastAPI's routing: a WebSocket lives for hours, and every
    layer it passes (exception handling, the router, the route, dependency solving with its
    exit stacks) stays suspended in it as long, about 12 KiB per idle connection (measured
    with tracemalloc). What those layers would do for it is done here: the anonymous rate
    limit, and authentication with the same code as every route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            await live(WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)


async def live(websocket: WebSocket) -> None:
    parts: ApiParts = websocket.app.state.parts
    metrics = parts.live.metrics
    await websocket.accept()
    metrics.connections.inc()
    session: LiveSession | None = None
    try:
        if "authorization" not in websocket.headers:
            await _counted_without_token(websocket, parts)
        caller = await _authenticated(websocket, parts)
        outbox = parts.live.outbox(parts.settings.live_buffer_messages)
        session = LiveSession(
            caller,
            live_topics(parts),
            parts.live,
            parts.locations,
            outbox,
            parts.settings.live_max_topics,
        )
        outbox.put("ready", {"role": str(caller.role), "subject": caller.subject})
        await _Connection(websocket, session, parts.settings.live_ping_seconds).converse()
    except Closing as closing:
        metrics.closed.labels(REASONS.get(closing.code, str(closing.code))).inc()
        if session is not None:
            session.close()  # before the close, which may wait for a follower not reading
        await _close(websocket, closing.code, closing.reason)
    except WebSocketDisconnect:
        pass
    finally:
        metrics.connections.dec()
        if session is not None:
            session.close()


async def _counted_without_token(websocket: WebSocket, parts: ApiParts) -> None:
    """As every route's first step: a connection without a token counts against its client
    address's limit."""
    try:
        await parts.limits.check_anonymous(websocket)
    except ApiProblem as problem:
        raise Closing(TOO_MANY, problem.detail[:120]) from None


async def _authenticated(websocket: WebSocket, parts: ApiParts) -> Identity:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not (scheme.lower() == "bearer" and token.strip()):
        try:
            first = await asyncio.wait_for(_message(websocket), AUTH_SECONDS)
        except TimeoutError:
            raise Closing(UNAUTHENTICATED, f"no token within {AUTH_SECONDS:g} s") from None
        if first.get("type") != "auth" or not isinstance(first.get("token"), str):
            raise Closing(UNAUTHENTICATED, 'the first message must be {"type": "auth", "token"}')
        token = first["token"]
    tokens = parts.tokens
    try:
        if tokens.needs_thread(token.strip()):
            caller = await run_in_threadpool(tokens.verify, token.strip())
        else:
            caller = tokens.verify(token.strip())
    except InvalidToken as error:
        raise Closing(UNAUTHENTICATED, f"invalid token: {error}"[:120]) from None
    if caller.role not in FOLLOWERS:
        raise Closing(ROLE_WITHOUT_TOPICS, f"the {caller.role} role has no live topics")
    return caller


async def _message(websocket: WebSocket) -> dict[str, Any]:
    """The client's next message, as JSON; Closing for what is not a message at all."""
    received = await websocket.receive()
    if received["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(received.get("code", 1000))
    text = received.get("text")
    if text is None:
        raise Closing(UNSUPPORTED, "messages are JSON text")
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise Closing(TOO_BIG, f"a message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(text)
    except ValueError:
        return {"type": None, "malformed": "not JSON"}
    return message if isinstance(message, dict) else {"type": None, "malformed": "not an object"}


class _Connection:
    """An authenticated follower's WebSocket, kept small since most of them idle for hours:
    its own task reads the follower's messages; a sender task runs only while messages wait
    in the outbox; a timer pings it. Whatever must end the connection (an overflowed outbox
    even while a send to it waits, no pong for two intervals, the server shutting down, the
    follower gone) cancels the reading, which then raises that reason."""

    def __init__(self, websocket: WebSocket, session: LiveSession, ping_seconds: float) -> None:
        self.websocket = websocket
        self.session = session
        self.every = ping_seconds
        self.heard = time.monotonic()
        self.ended: BaseException | None = None
        self._loop = asyncio.get_running_loop()
        reader = asyncio.current_task()
        assert reader is not None  # made by the connection's own task, which it reads in
        self._reader = reader
        self._sender: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(ping_seconds, self._tick)

    async def converse(self) -> None:
        outbox = self.session.outbox
        outbox.wake = self._woken
        self._woken()  # what was put before (``ready``)
        try:
            if self.ended is not None:  # (the server was shutting down already)
                raise self.ended
            await self._listen()
        except asyncio.CancelledError:
            if self.ended is None:
                raise  # cancelled from outside
            self._reader.uncancel()
            raise self.ended from None
        finally:
            self._timer.cancel()
            outbox.wake = None
            sender = self._sender
            if sender is not None:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    def _end(self, reason: BaseException) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        if asyncio.current_task() is not self._reader:  # else it raises after this message
            self._reader.cancel()

    def _woken(self) -> None:
        outbox = self.session.outbox
        if outbox.going_away:
            self._end(Closing(GOING_AWAY, "the server is shutting down: connect again"))
        elif outbox.overflowed:
            self._end(Closing(SLOW_CONSUMER, f"more than {outbox.limit} messages waited for you"))
        elif outbox.items and self._sender is None:
            self._sender = self._loop.create_task(self._send())

    async def _send(self) -> None:
        items = self.session.outbox.items
        try:
            while items:
                item = items.pop(0)
                await self.websocket.send_text(json.dumps({"type": item.kind, **item.payload}))
        except WebSocketDisconnect as gone:
            self._end(gone)
        except Exception as error:  # a transport closed under the send: the follower is gone
            log.debug("live: a send failed: %r", error)
            self._end(WebSocketDisconnect(1006))
        finally:
            self._sender = None

    def _tick(self) -> None:
        if time.monotonic() - self.heard > 2 * self.every:
            self._end(Closing(NO_PONG, f"no message for {2 * self.every:g} s (answer each ping)"))
            return
        self.session.outbox.put("ping", {})
        self._timer = self._loop.call_later(self.every, self._tick)

    async def _listen(self) -> None:
        session, websocket = self.session, self.websocket
        while True:
            message = await _message(websocket)
            self.heard = time.monotonic()
            kind = message.get("type")
            if kind == "subscribe":
                await session.subscribe(message.get("topic"), message.get("after"))
            elif kind == "unsubscribe":
                session.unsubscribe(message.get("topic"))
            elif kind == "ping":
                session.outbox.put("pong", {})
            elif kind == "pong":
                pass
            else:
                detail = message.get("malformed") or f"no message type {kind!r}"
                session.outbox.put("error", {"topic": None, "status": 400, "detail": detail})
            if self.ended is not None:  # what this message did ended it (an overflow)
                raise self.ended


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    # a follower that is gone or not reading: returning ends the connection
    with contextlib.suppress(TimeoutError, RuntimeError, WebSocketDisconnect):
        await asyncio.wait_for(websocket.close(code, reason[:120]), 2.0)
