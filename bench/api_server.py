"""The API benchmark's server: ``tiffin serve`` (and, in server mode, one ``tiffin worker``) in
processes of their own, on a scratch database and a Redis prefix of their own."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from redis import Redis

from application.settings import load_settings
from wiring.serving import certificate_of

START_WITHIN_SECONDS = 60.0
STOP_WITHIN_SECONDS = 20.0
SERVING_LINE = "tiffin serve: https://"
WORKER_LINE = "tiffin worker: running"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
UNLIMITED = "1000000"  # the settings' maximum for a rate limit


@dataclass
class ApiStack:
    host: str
    port: int
    cert: Path
    jwt_secret: bytes
    server: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None
    logs: Path
    mode: str  # "server mode" or "embedded"
    redis_prefix: str | None  # server mode: every key under it is deleted afterwards
    database_url: str | None = None  # server mode's
    redis_url: str | None = None
    plain_port: int | None = None  # TIFFIN_PLAIN_PORT's: HTTP without TLS

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the server, the worker (if any), this process (the client)
        and the whole machine."""
        times = {"server": process_cpu_seconds(self.server.pid)}
        if self.worker is not None:
            times["worker"] = process_cpu_seconds(self.worker.pid)
        usage = os.times()
        times["client"] = usage.user + usage.system
        times["machine"] = machine_busy_seconds()
        return times


def process_cpu_seconds(pid: int) -> float:
    """User + system time of process ``pid`` (all its threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time every CPU of the machine has spent busy (not idle, not waiting for I/O)."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP (HTTP/3 shares it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both TCP and UDP in 50 tries")


def stack_environ(data_dir: Path, port: int, secret: bytes, **tiffin: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIFFIN_")}
    return {
        **clean,
        "TIFFIN_DATA_DIR": str(data_dir),
        "TIFFIN_HOST": "127.0.0.1",
        "TIFFIN_PORT": str(port),
        "TIFFIN_JWT_SECRET": secret.decode(),
        "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
        "TIFFIN_RATE_LIMIT_ORDERS_PER_MINUTE": UNLIMITED,
        "TIFFIN_RATE_LIMIT_PER_MINUTE": UNLIMITED,
        "TIFFIN_RATE_LIMIT_ANONYMOUS_PER_MINUTE": UNLIMITED,  # the load polls /healthz
        "TIFFIN_RATE_LIMIT_WEBHOOKS_PER_MINUTE": UNLIMITED,
        **tiffin,
    }


@contextmanager
def api_stack(
    data_dir: Path,
    database_url: str | None,
    redis_url: str | None,
    worker_only: Sequence[str] = (),
    plain: bool = False,
) -> Iterator[ApiStack]:
    """``tiffin serve`` and (with a database) one ``tiffin worker`` (of ``worker_only``'s
    components, or all), stopped afterwards; with a database, the Redis keys under the run's
    prefix are deleted afterwards."""
    port, secret = free_port(), secrets.token_hex(32).encode()
    # made here, so the server does not race us
    cert, _, _ = certificate_of(load_settings({"TIFFIN_DATA_DIR": str(data_dir)}))
    more: dict[str, str] = {}
    prefix = f"tiffin-bench-{uuid4().hex[:12]}:"
    if database_url is not None:
        if redis_url is None:
            raise ValueError("server mode needs Redis")
        more = {
            "TIFFIN_DATABASE_URL": database_url,
            "TIFFIN_REDIS_URL": redis_url,
            "TIFFIN_REDIS_PREFIX": prefix,
        }
    plain_port = free_port() if plain else None
    if plain_port is not None:
        more["TIFFIN_PLAIN_PORT"] = str(plain_port)
    environ = stack_environ(data_dir, port, secret, **more)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        worker = None
        if database_url is not None:
            only = ["--only", *worker_only] if worker_only else []
            worker = _start(["worker", *only], environ, logs / "worker.log", started)
            _wait_for(worker, logs / "worker.log", WORKER_LINE)
        server = _start(["serve", "--graceful-seconds", "2"], environ, logs / "serve.log", started)
        _wait_for(server, logs / "serve.log", SERVING_LINE)
        mode, used = ("embedded", None) if database_url is None else ("server mode", prefix)
        yield ApiStack(
            "127.0.0.1",
            port,
            cert,
            secret,
            server,
            worker,
            logs,
            mode,
            used,
            database_url,
            redis_url,
            plain_port,
        )
    finally:
        for process in reversed(started):
            _stop(process)
        if database_url is not None and redis_url is not None:
            _delete_prefix(redis_url, prefix)


@contextmanager
def crud_stack(data_dir: Path, stack: ApiStack) -> Iterator[ApiStack]:
    """The CRUD baseline (``bench.crud_server``) beside ``stack``: its database, certificate
    and token secret, a port of its own."""
    if stack.database_url is None:
        raise ValueError("the CRUD baseline needs server mode's PostgreSQL")
    from bench.crud_server import LISTENING

    cert, key, _ = certificate_of(load_settings({"TIFFIN_DATA_DIR": str(data_dir)}))
    port, log = free_port(), stack.logs / "crud.log"
    started: list[subprocess.Popen[bytes]] = []
    environ = stack_environ(data_dir, port, stack.jwt_secret)
    arguments = ["--database-url", stack.database_url, "--port", str(port)]
    arguments += ["--cert", str(cert), "--key", str(key)]
    try:
        server = _start(arguments, environ, log, started, module="bench.crud_server")
        _wait_for(server, log, LISTENING)
        yield ApiStack(
            stack.host, port, cert, stack.jwt_secret, server, None, stack.logs, "CRUD", None
        )
    finally:
        for process in started:
            _stop(process)


def _start(
    arguments: list[str],
    environ: Mapping[str, str],
    log: Path,
    started: list[subprocess.Popen[bytes]],
    module: str = "cli",
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own code, with this interpreter)
            [sys.executable, "-m", module, *arguments],
            env=dict(environ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started.append(process)
    return process


def _wait_for(process: subprocess.Popen[bytes], log: Path, line: str) -> None:
    """Polls the process's log (it is another process) until it says ``line``."""
    deadline = time.monotonic() + START_WITHIN_SECONDS
    name = f"tiffin {log.stem}"
    while line not in (text := log.read_text(errors="replace")):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{text[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{name} did not start in {START_WITHIN_SECONDS:g} s:\n{text[-3000:]}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _delete_prefix(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
    finally:
        client.close()
