"""Who runs each worker component: one process at a time, the others as hot standbys.

PostgreSQL: a session advisory lock per component (keyed by schema and name) on a connection
of its own; a process that dies loses its connection and so its locks, and a standby takes
over on its next pass. The connection is checked at least every ``CHECK_SECONDS`` while locks
are held: when it is gone (terminated, dropped, a server restart) PostgreSQL has released the
locks, so this process stops claiming them and asks again, like any standby. TCP keepalives and
a user timeout make a silently dropped network fail the check within about two seconds.
Embedded: an exclusive lock on a file per component in the data dir.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)
CHECK_SECONDS = 0.5
# libpq: probe an idle connection after 1 s, every 1 s, give up after 2 unanswered probes;
# fail a send unacknowledged for 2 s.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 1,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 2000,
}


class PostgresLeadership:
    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[str] = set()
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def holds(self, component: str) -> bool:
        """True if this process holds the component's lock (taking it if it is free); False
        too when PostgreSQL cannot be reached, as nothing can then be held."""
        with self._lock:
            try:
                connection = self._connect()
                if component in self._held:
                    return True
                row = connection.execute(
                    "SELECT pg_try_advisory_lock(hashtext(current_schema() || ':tiffin:' || %s))",
                    (component,),
                ).fetchone()
            except psycopg.Error as error:
                self._lost(f"cannot reach PostgreSQL: {error}")
                return False
            if row is not None and row[0]:
                self._held.add(component)
                return True
            return False

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        connection = self._connection
        if connection is not None and not connection.broken and not connection.closed:
            if not self._held or time.monotonic() - self._checked_at < CHECK_SECONDS:
                return connection
            try:
                connection.execute("SELECT 1")
                self._checked_at = time.monotonic()
                return connection
            except psycopg.Error as error:
                self._lost(f"the lock connection failed its check: {error}")
        elif self._held:
            self._lost("the lock connection was lost")
        self._connection = psycopg.connect(
            make_conninfo(self.url, **KEEPALIVES),
            autocommit=True,
        )
        self._checked_at = time.monotonic()
        return self._connection

    def let_go(self, component: str) -> None:
        with self._lock:
            if component not in self._held or self._connection is None:
                return
            self._held.discard(component)
            try:
                self._connection.execute(
                    "SELECT pg_advisory_unlock(hashtext(current_schema() || ':tiffin:' || %s))",
                    (component,),
                )
            except psycopg.Error as error:
                self._lost(f"cannot reach PostgreSQL: {error}")

    def _lost(self, why: str) -> None:
        """PostgreSQL released this connection's locks with it: they are no longer ours."""
        if self._held:
            log.warning("lost the locks of %s: %s", ", ".join(sorted(self._held)), why)
        self._held.clear()
        if self._connection is not None:
            self._connection.close()
        self._connection = None

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._held.clear()


class FileLeadership:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def holds(self, component: str) -> bool:
        with self._lock:
            if component in self._held:
                return True
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(
                self.directory / f"{component}.lock", os.O_RDWR | os.O_CREAT, 0o600
            )
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return False
            self._held[component] = descriptor
            return True

    def let_go(self, component: str) -> None:
        with self._lock:
            descriptor = self._held.pop(component, None)
            if descriptor is not None:
                os.close(descriptor)

    def release(self) -> None:
        with self._lock:
            for descriptor in self._held.values():
                os.close(descriptor)
            self._held.clear()
