"""HTTP/1.1 by hand over TLS, for what clients that behave cannot send."""

from __future__ import annotations

import re
import socket


def read_response_head(tls: socket.socket) -> bytes:
    """One response's head, its body read past (by Content-Length)."""
    received = b""
    while b"\r\n\r\n" not in received:
        more = tls.recv(65536)
        if not more:
            raise ConnectionError(f"closed after {received!r}")
        received += more
    head, _, rest = received.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head.lower())
    while length and len(rest) < int(length.group(1)):
        rest += tls.recv(65536)
    return head


def closed_within(tls: socket.socket, seconds: float) -> bool:
    tls.settimeout(seconds)
    try:
        return tls.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True
