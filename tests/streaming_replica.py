"""A PostgreSQL primary and a streaming replica of it, for tests of reading from a replica.

Made here from the machine's PostgreSQL binaries (``initdb``, ``pg_ctl``, ``pg_basebackup``,
found with ``pg_config --bindir``): a cluster of its own on a free port, a base backup of it
started as a hot standby (``-R``: it streams the primary's WAL) on another, both removed
afterwards. PostgreSQL refuses to run as root, so as root both run as the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.api_server import free_port

START_SECONDS = 60


@dataclass(frozen=True)
class StreamingPair:
    primary_url: str
    replica_url: str

    def replaying(self, on: bool) -> None:
        """Pauses or resumes the replica's replay of the primary's WAL."""
        with psycopg.connect(self.replica_url, autocommit=True) as replica:
            replica.execute(
                "SELECT pg_wal_replay_resume()" if on else "SELECT pg_wal_replay_pause()"
            )


def _bindir() -> Path:
    config = shutil.which("pg_config")
    if config is not None:
        found = subprocess.run([config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0 and (Path(found.stdout.strip()) / "initdb").exists():
            return Path(found.stdout.strip())
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise RuntimeError("no PostgreSQL binaries (initdb) on this machine")
    return candidates[-1].parent


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(*command: str | Path | int, check: bool = True) -> None:
    done = subprocess.run(
        [*_as_postgres(), *map(str, command)], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")


@contextmanager
def streaming_pair() -> Iterator[StreamingPair]:
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="tiffin-replica-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    primary, replica = root / "primary", root / "replica"
    ports = {primary: free_port(), replica: free_port()}
    started: list[Path] = []

    def start(cluster: Path) -> None:
        options = f"-p {ports[cluster]} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = root / f"{cluster.name}.log"
        _run(bindir / "pg_ctl", "-D", cluster, "-o", options, "-l", log, "-t", START_SECONDS,
             "-w", "start")  # fmt: skip
        started.append(cluster)

    try:
        _run(bindir / "initdb", "-D", primary, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        start(primary)
        _run(bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", ports[primary], "-U", "postgres",
             "-D", replica, "-R", "-X", "stream")  # fmt: skip
        start(replica)  # a copy of the running primary, streaming from it
        yield StreamingPair(
            *(f"postgresql://postgres@127.0.0.1:{ports[c]}/postgres" for c in ports)
        )
    finally:
        for cluster in reversed(started):
            _run(bindir / "pg_ctl", "-D", cluster, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
