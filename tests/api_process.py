"""`tiffin serve` (and, in server mode, `tiffin worker`) as real processes for end-to-end tests:
started with a chosen environment, waited for over HTTPS, stopped with SIGTERM."""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.platform_tokens import PlatformTokens
from application.settings import Settings, load_settings
from application.webhooks import signature_header
from bench.api_server import free_port
from domain.values import Role
from tests.e2e.workers import Workers
from tests.polling import Seen, poll_until

REPO_ROOT = Path(__file__).resolve().parent.parent
# Fixed for the whole test run, so tokens minted here are valid on every server started.
JWT_SECRET = secrets.token_urlsafe(48)
WEBHOOK_SECRET = secrets.token_urlsafe(32)
START_WITHIN_SECONDS = 30.0
STOP_WITHIN_SECONDS = 20.0


@dataclass
class ApiServer:
    """A running `tiffin serve`; ``environ`` holds the TIFFIN_* variables it was given."""

    process: subprocess.Popen[bytes]
    environ: dict[str, str]
    stdout_log: Path
    stderr_log: Path
    workers: Workers | None = None
    _tokens: PlatformTokens = field(
        default_factory=lambda: PlatformTokens(JWT_SECRET.encode()), repr=False
    )

    @property
    def settings(self) -> Settings:
        return load_settings(self.environ)

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def cert(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the server's self-signed certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))

    def token(self, subject: str, role: Role) -> str:
        """A platform token for ``subject`` in ``role``, valid for an hour."""
        return self._tokens.issue(subject, role)

    def sign(self, body: bytes) -> str:
        """The ``Tiffin-Signature`` header the payment gateway would send with ``body`` now."""
        return signature_header(WEBHOOK_SECRET.encode(), body, int(time.time()))

    def stdout_lines(self) -> list[str]:
        return self.stdout_log.read_text(errors="replace").splitlines()

    def log_files(self) -> list[Path]:
        workers = sorted(self.workers.logs.glob("worker-*.log")) if self.workers else []
        return [self.stdout_log, self.stderr_log, *workers]

    def log_sizes(self) -> dict[Path, int]:
        return {path: path.stat().st_size for path in self.log_files() if path.exists()}

    def logs(self, since: Mapping[Path, int] | None = None) -> str:
        """What the server and its workers printed (after ``since``, from ``log_sizes``)."""
        parts = []
        for path in self.log_files():
            text = path.read_bytes()[(since or {}).get(path, 0) :].decode(errors="replace")
            parts.append(f"--- {path.name} ---\n{text}")
        return "\n".join(parts)

    def terminate(self) -> int:
        """Sends SIGTERM (if it still runs) and returns the exit code; fails if it is slow."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"tiffin serve did not exit within {STOP_WITHIN_SECONDS} s of SIGTERM\n"
                f"{self.logs()}"
            ) from None


def server_environ(data_dir: Path, **tiffin: str) -> dict[str, str]:
    """The TIFFIN_* variables of a test server: its data dir, a free port, no simulated
    capture (payments are captured by the webhooks tests send), the run's secrets."""
    return {
        "TIFFIN_DATA_DIR": str(data_dir),
        "TIFFIN_PORT": str(free_port()),
        "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
        "TIFFIN_PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TIFFIN_JWT_SECRET": JWT_SECRET,
        "TIFFIN_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "1000000",  # tests poll /healthz often
        **tiffin,
    }


def process_environ(tiffin: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its TIFFIN_* variables, plus ``tiffin``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIFFIN_")}
    return {**clean, **tiffin}


@contextmanager
def api_server(
    tiffin: Mapping[str, str],
    *,
    workers: int = 0,
    graceful_seconds: float = 10.0,
    killed: Callable[[], bool] = lambda: False,
) -> Iterator[ApiServer]:
    """Starts `tiffin serve` (and ``workers`` `tiffin worker` processes beside it) with the
    TIFFIN_* variables ``tiffin``, waits until GET /healthz answers over HTTPS, and stops it
    with SIGTERM afterwards, failing unless every process exits with 0 (or, once ``killed()``,
    the server was SIGKILLed by the test)."""
    environ = dict(tiffin)
    data_dir = load_settings(environ).data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    port = environ["TIFFIN_PORT"]
    stdout_log, stderr_log = data_dir / f"serve-{port}.out", data_dir / f"serve-{port}.err"
    command = [
        sys.executable,
        "-m",
        "cli",
        "serve",
        "--graceful-seconds",
        f"{graceful_seconds}",
    ]
    with stdout_log.open("wb") as out, stderr_log.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=process_environ(environ), stdout=out, stderr=err
        )
    server = ApiServer(process, environ, stdout_log, stderr_log)
    try:
        wait_until_healthy(server)
        if workers:
            # Only now: processes starting at once on an empty schema race creating the event
            # store's tables, and one dies of "tuple concurrently updated" (create_table in
            # adapters/group_commit.py takes no lock).
            server.workers = Workers(process_environ(environ), data_dir / f"workers-{port}")
            for _ in range(workers):
                server.workers.start()
            for worker in server.workers.processes:
                server.workers.wait_running(worker, timeout=START_WITHIN_SECONDS)
        yield server
    except BaseException:
        _stop(server)
        print(server.logs(), file=sys.stderr)
        raise
    codes = _stop(server)
    if killed():
        codes[0] = 0 if codes[0] == -signal.SIGKILL else codes[0]
    assert set(codes) == {0}, f"exit codes {codes} (server first), not all 0\n{server.logs()}"


def _stop(server: ApiServer) -> list[int]:
    """Stops the server, then its workers; their exit codes."""
    codes = [server.terminate()]
    if server.workers is not None:
        for worker in server.workers.processes:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        codes += [w.process.wait(timeout=STOP_WITHIN_SECONDS) for w in server.workers.processes]
    return codes


def wait_until_healthy(server: ApiServer) -> None:
    """Polls GET /healthz over HTTPS (the process is another one) until it answers 200."""

    def look(seen: Seen) -> bool | None:
        if server.process.poll() is not None:
            raise AssertionError(f"tiffin serve exited with {server.process.returncode}")
        try:
            with httpx.Client(verify=server.ssl_context(), timeout=2.0) as client:
                response = client.get(f"{server.base_url}/healthz")
        except (OSError, ssl.SSLError, httpx.TransportError) as error:
            seen.last = error  # not listening yet, or the certificate is not written yet
            return None
        seen.last = f"{response.status_code} {response.text}"
        return True if response.status_code == 200 else None

    poll_until(look, within=START_WITHIN_SECONDS, what="GET /healthz answering 200", every=0.05)
