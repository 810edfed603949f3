"""``/v1/live``: one WebSocket for every live topic a caller may follow (docs/api.md: Live).

The bearer token comes with the upgrade (``Authorization: Bearer …``) or, where a client cannot
set headers (a browser), as the first message ``{"type": "auth", "token": "…"}`` within
``AUTH_SECONDS``. Then the client sends ``subscribe`` / ``unsubscribe`` messages (``{"type":
"subscribe", "topic": "order:<id>", "after": "<position>"}``) and answers each ``ping`` with a
``pong``; the server sends what ``api/live_session.py`` describes. Close codes: 4001 no valid
token in time, 4003 a role with no live topics, 4008 a follower too slow for its topics (its
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

from fastapi import APIRouter, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from api.dependencies import ApiParts
from api.live_session import LiveSession
from api.live_topics import FOLLOWERS, LiveTopics
from application.identity import Identity, InvalidToken

router = APIRouter()
log = logging.getLogger(__name__)
AUTH_SECONDS = 5.0
MAX_MESSAGE_BYTES = 4096
UNAUTHENTICATED, ROLE_WITHOUT_TOPICS, SLOW_CONSUMER, NO_PONG = 4001, 4003, 4008, 4009
UNSUPPORTED, TOO_BIG, GOING_AWAY = 1003, 1009, 1001
REASONS = {  # the tiffin_live_closed_total label of each close code
    UNAUTHENTICATED: "unauthenticated",
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


@router.websocket("/v1/live")
async def live(websocket: WebSocket) -> None:
    parts: ApiParts = websocket.app.state.parts
    metrics = parts.live.metrics
    await websocket.accept()
    metrics.connections.inc()
    session: LiveSession | None = None
    try:
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
        await _converse(websocket, session, parts.settings.live_ping_seconds)
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


async def _converse(websocket: WebSocket, session: LiveSession, ping_seconds: float) -> None:
    heard = [time.monotonic()]
    tasks = [
        asyncio.create_task(_send(websocket, session)),
        asyncio.create_task(_listen(websocket, session, heard)),
        asyncio.create_task(_watch(session, heard, ping_seconds)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # Closing, WebSocketDisconnect
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _send(websocket: WebSocket, session: LiveSession) -> None:
    while True:
        item = await session.outbox.get()
        await websocket.send_text(json.dumps({"type": item.kind, **item.payload}))


async def _listen(websocket: WebSocket, session: LiveSession, heard: list[float]) -> None:
    while True:
        message = await _message(websocket)
        heard[0] = time.monotonic()
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


async def _watch(session: LiveSession, heard: list[float], every: float) -> None:
    """Pings the follower every ``every`` s, and closes the connection when it must end: no
    message for two intervals, its outbox overflowed (even while a send to it waits), or the
    server shutting down."""
    outbox = session.outbox
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outbox.attention.wait(), every)
        if outbox.going_away:
            raise Closing(GOING_AWAY, "the server is shutting down: connect again")
        if outbox.overflowed:
            raise Closing(SLOW_CONSUMER, f"more than {outbox.limit} messages waited for you")
        if time.monotonic() - heard[0] > 2 * every:
            raise Closing(NO_PONG, f"no message for {2 * every:g} s (answer each ping)")
        outbox.put("ping", {})


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    # a follower that is gone or not reading: returning ends the connection
    with contextlib.suppress(TimeoutError, RuntimeError, WebSocketDisconnect):
        await asyncio.wait_for(websocket.close(code, reason[:120]), 2.0)
