"""A request certainly in flight when `tiffin serve` gets SIGTERM: it carries a Firebase token,
and the (local) Firebase certificate endpoint holds its answer until the server has begun to
shut down, so the request is in the server's hands all along."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

import httpx

from tests.api_process import ApiServer
from tests.fakes.firebase_certs import FakeFirebaseCerts
from tests.polling import Seen, poll_until

WITHIN_SECONDS = 20.0


@dataclass
class HeldCertificates(FakeFirebaseCerts):
    """Firebase's certificate endpoint answering only once ``release`` is set; ``asked`` is
    set when the server has asked."""

    asked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        self.asked.set()
        self.release.wait(timeout=WITHIN_SECONDS)
        return super().answer()


def wait_until_refusing(port: int) -> None:
    """Polls (bounded) until 127.0.0.1:port refuses TCP connections: the server stopped
    listening, which it does first on SIGTERM."""

    def look(seen: Seen) -> bool | None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        seen.last = "a connection accepted"
        return None

    poll_until(look, within=WITHIN_SECONDS, what=f"port {port} refusing after SIGTERM", every=0.01)


async def request_across_sigterm(
    server: ApiServer, certs: HeldCertificates, path: str
) -> httpx.Response:
    """GETs ``path`` as a Firebase user; sends SIGTERM while the request is held in the
    server, and lets it go on once the server has stopped listening."""
    token = certs.mint(certs.claims(time.time()))
    async with httpx.AsyncClient(verify=server.ssl_context(), timeout=WITHIN_SECONDS) as client:
        headers = {"Authorization": f"Bearer {token}"}
        answer = asyncio.create_task(client.get(f"{server.base_url}{path}", headers=headers))
        reached = await asyncio.to_thread(certs.asked.wait, WITHIN_SECONDS)
        assert reached, "the request did not reach the server"
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(wait_until_refusing, server.port)
        assert not answer.done(), "the request was answered before the shutdown began"
        certs.release.set()
        return await answer
