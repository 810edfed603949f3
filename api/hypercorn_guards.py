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
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import h2.events
from aioquic.h3.connection import FrameUnexpected
from hypercorn.asyncio.udp_server import UDPServer
from hypercorn.protocol.events import Body
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h3 import H3Protocol
from hypercorn.protocol.http_stream import ASGIHTTPState, HTTPStream

GUARDED = "tiffin_guarded"


def survive_clients_misbehaving() -> None:
    _drop_sends_on_stopped_http3_streams()
    _ignore_http2_bodies_of_answered_streams()
    _drop_bodies_of_finished_responses()
    _queue_more_datagrams()


DATAGRAM_QUEUE = 2048


def _queue_more_datagrams() -> None:
    original = UDPServer.__init__
    if getattr(original, GUARDED, False):
        return

    def init(server: UDPServer, *args: Any, **kwargs: Any) -> None:
        original(server, *args, **kwargs)
        server.protocol_queue = asyncio.Queue(DATAGRAM_QUEUE)

    setattr(init, GUARDED, True)
    UDPServer.__init__ = init  # type: ignore[method-assign, assignment]


def _drop_bodies_of_finished_responses() -> None:
    original = HTTPStream.handle
    if getattr(original, GUARDED, False):
        return

    async def handle(stream: HTTPStream, event: StreamEvent) -> None:
        if isinstance(event, Body) and stream.state is ASGIHTTPState.CLOSED:
            return  # the app has answered and gone: the rest of the body is moot
        await original(stream, event)

    setattr(handle, GUARDED, True)
    HTTPStream.handle = handle  # type: ignore[method-assign, assignment]


def _drop_sends_on_stopped_http3_streams() -> None:
    original = H3Protocol.stream_send
    if getattr(original, GUARDED, False):
        return

    async def stream_send(protocol: H3Protocol, event: StreamEvent) -> None:
        # The client no longer reads this stream, so the rest of the response is moot.
        with contextlib.suppress(ValueError, FrameUnexpected):
            await original(protocol, event)

    setattr(stream_send, GUARDED, True)
    H3Protocol.stream_send = stream_send  # type: ignore[method-assign, assignment]


def _ignore_http2_bodies_of_answered_streams() -> None:
    original = H2Protocol._handle_events
    if getattr(original, GUARDED, False):
        return

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

    setattr(handle_events, GUARDED, True)
    H2Protocol._handle_events = handle_events  # type: ignore[method-assign, assignment]
