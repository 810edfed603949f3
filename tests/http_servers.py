"""The echo app (``tests.fakes.echo_app``) served by ``api.server`` in a process of its own."""

from __future__ import annotations

import os
import selectors
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from adapters.tls_certificate import ensure_certificate
from bench.api_server import free_port
from tests.fakes.echo_app import READY_LINE

REPO_ROOT = Path(__file__).resolve().parent.parent
START_WITHIN_SECONDS = 20.0
STOP_WITHIN_SECONDS = 15.0


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    cert: Path
    log: Path
    _unread: bytes = field(default=b"", repr=False)

    @property
    def data_dir(self) -> Path:
        return self.cert.parent.parent

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the server's self-signed certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))

    def wait_for_line(self, expected: str, within_seconds: float) -> None:
        """Reads the server's stdout until the line ``expected``; fails at the deadline."""
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        deadline = time.monotonic() + within_seconds
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            while True:
                line, newline, rest = self._unread.partition(b"\n")
                if newline:
                    self._unread = rest
                    if line.decode().strip() == expected:
                        return
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {expected!r} from the server within {within_seconds} s\n"
                        f"{self.log_text()}"
                    )
                if selector.select(timeout=left):
                    chunk = os.read(descriptor, 4096)
                    if not chunk:
                        raise AssertionError(
                            f"the server exited with {self.process.wait()} before saying "
                            f"{expected!r}\n{self.log_text()}"
                        )
                    self._unread += chunk

    def terminate(
        self, within_seconds: float = STOP_WITHIN_SECONDS, signal_number: int = signal.SIGTERM
    ) -> int:
        """Sends SIGTERM (or ``signal_number``) and returns the exit code; fails if slow."""
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
        try:
            return self.process.wait(timeout=within_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the server did not exit within {within_seconds} s of SIGTERM\n{self.log_text()}"
            ) from None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def echo_server(data_dir: Path, *, graceful_seconds: float = 5.0) -> Iterator[RunningServer]:
    """Starts the echo server, waits until it says it is serving, and stops it afterwards."""
    # Made here first, so the test and the server never race to create it.
    cert, _ = ensure_certificate(data_dir)
    port = free_port()
    log = data_dir / f"server-{port}.log"
    command = [sys.executable, "-m", "tests.fakes.echo_app", str(data_dir), str(port)]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, str(graceful_seconds)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
    server = RunningServer(process, port, cert, log)
    try:
        server.wait_for_line(READY_LINE, START_WITHIN_SECONDS)
        yield server
    finally:
        if process.poll() is None:
            server.terminate()
        assert process.stdout is not None
        process.stdout.close()
