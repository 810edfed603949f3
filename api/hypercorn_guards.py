"""Guards against two Hypercorn 0.18 bugs that let one client's ordinary behaviour break
others' connections. Applied once by ``api.server.run_server`` (idempotent).

- HTTP/3: a client stopping a stream (STOP_SENDING, as a cancelled fetch does) before the
  response starts makes aioquic refuse the send, and the error escapes the task group every
  QUIC connection shares: HTTP/3 ends for all clients until a restart.
- HTTP/2: a request body arriving after its stream's response was sent (a 401 or 413 answered
  before the body was read) raises KeyError in the connection's event loop: the whole connection
  dies, with every request on it (pgjones/hypercorn#329). And while the stream is still open,
  its body goes to the finished app's queue, which nobody reads: after ten chunks the
  connection's loop waits forever.
- HTTP/3 under load: the UDP server queues 10 datagrams and drops the rest, so 32 busy clients
  lose about a quarter of their packets to it and wait seconds for QUIC to resend them.

And one cost: Hypercorn accepts every WebSocket's offer of permessage-deflate, whose zlib state
is about 260 KiB a connection. ``/v1/live`` sends small JSON messages, which compression hardly
shrinks, to many mostly idle followers: WebSockets are accepted uncompressed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import h2.events
from aioquic.h3.connection import FrameUnexpected
from hypercorn.asyncio.udp_server import UDPServer
from hypercorn.protocol.events import Body
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h3 import H3Protocol
from hypercorn.protocol.http_stream import ASGIHTTPState, HTTPStream
from hypercorn.protocol.ws_stream import Handshake

GUARDED = "tiffin_guarded"
DATAGRAM_QUEUE = 2048


def survive_clients_misbehaving() -> None:
    _wrap(H3Protocol, "stream_send", _dropping_sends_on_stopped_streams)
    _wrap(H2Protocol, "_handle_events", _ignoring_bodies_of_answered_streams)
    _wrap(HTTPStream, "handle", _dropping_bodies_of_finished_responses)
    _wrap(UDPServer, "__init__", _queueing_more_datagrams)
    _wrap(Handshake, "accept", _without_compression)


def _wrap(owner: type, name: str, guard: Callable[[Any], Any]) -> None:
    """Replaces ``owner.name`` with ``guard(original)``, once however often it is asked."""
    original = getattr(owner, name)
    if not getattr(original, GUARDED, False):
        guarded = guard(original)
        setattr(guarded, GUARDED, True)
        setattr(owner, name, guarded)


def _dropping_sends_on_stopped_streams(original: Any) -> Any:
    async def stream_send(protocol: H3Protocol, event: StreamEvent) -> None:
        # The client no longer reads this stream, so the rest of the response is moot.
        with contextlib.suppress(ValueError, FrameUnexpected):
            await original(protocol, event)

    return stream_send


def _ignoring_bodies_of_answered_streams(original: Any) -> Any:
    async def handle_events(protocol: H2Protocol, events: list[Any]) -> None:
        # One event at a time: handling a request may answer and close its stream before the
        # next event of the same batch, its body, is looked at.
        for event in events:
            if (
                isinstance(event, h2.events.DataReceived)
                and event.stream_id not in protocol.streams
            ):
                # Answered already: hand the flow-control window back, drop the bytes.
                protocol.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
                await protocol._flush()
            else:
                await original(protocol, [event])

    return handle_events


def _dropping_bodies_of_finished_responses(original: Any) -> Any:
    async def handle(stream: HTTPStream, event: StreamEvent) -> None:
        if isinstance(event, Body) and stream.state is ASGIHTTPState.CLOSED:
            return  # the app has answered and gone: the rest of the body is moot
        await original(stream, event)

    return handle


def _queueing_more_datagrams(original: Any) -> Any:
    def init(server: UDPServer, *args: Any, **kwargs: Any) -> None:
        original(server, *args, **kwargs)
        server.protocol_queue = asyncio.Queue(DATAGRAM_QUEUE)

    return init


def _without_compression(original: Any) -> Any:
    def accept(handshake: Any, *args: Any, **kwargs: Any) -> Any:
        handshake.extensions = None  # as if the client offered none
        return original(handshake, *args, **kwargs)

    return accept
