"""A bare HTTP/2 client (the ``h2`` state machine over a TLS socket) for what httpx does not
let a test control: when a request's stream ends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import h2.config
import h2.connection
import h2.events

from tests.api_process import ApiServer

CLOSED = 0  # the status "answered" when the server closed the connection instead


class BareH2:
    def __init__(self, tls: socket.socket, authority: str) -> None:
        self.tls, self.authority = tls, authority
        self.connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.connection.initiate_connection()
        self._flush()

    def _flush(self) -> None:
        self.tls.sendall(self.connection.data_to_send())

    def request(self, method: str, path: str, token: str | None, *, end_stream: bool) -> int:
        """Sends a request without a body; unless ``end_stream``, its stream stays open (as
        when a body may follow). Returns the response status once the response has ended."""
        stream_id = self.connection.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "https"), (":authority", self.authority)]
        headers += [(":path", path), ("content-length", "0")]
        if token is not None:
            headers.append(("authorization", f"Bearer {token}"))
        self.connection.send_headers(stream_id, headers, end_stream=end_stream)
        self._flush()
        status = self._response(stream_id)
        if not end_stream and status != CLOSED:
            self.connection.end_stream(stream_id)  # the (empty) body ends only now
            self._flush()
        return status

    def _response(self, stream_id: int) -> int:
        status = CLOSED
        while data := self.tls.recv(65_536):
            for event in self.connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                    self._flush()
                    return status
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return CLOSED
            self._flush()
        return CLOSED


@contextmanager
def bare_h2(server: ApiServer) -> Iterator[BareH2]:
    context = server.ssl_context()
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        yield BareH2(tls, f"127.0.0.1:{server.port}")
