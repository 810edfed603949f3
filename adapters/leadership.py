"""Who runs each worker component: one process at a time, the others as hot standbys.

PostgreSQL: a session advisory lock per component (keyed by schema and name) on a connection
of its own; a process that dies loses its connection and so its locks, and a standby takes
over on its next pass. Embedded: an exclusive lock on a file per component in the data dir.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import psycopg


class PostgresLeadership:
    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def holds(self, component: str) -> bool:
        with self._lock:
            connection = self._connect()
            if component in self._held:
                return True
            row = connection.execute(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || ':tiffin:' || %s))",
                (component,),
            ).fetchone()
            if row is not None and row[0]:
                self._held.add(component)
                return True
            return False

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.broken or self._connection.closed:
            self._held.clear()  # a lost connection took its locks with it
            self._connection = psycopg.connect(self.url, autocommit=True)
        return self._connection

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
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.directory / f"{component}.lock", os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return False
            self._held[component] = descriptor
            return True

    def release(self) -> None:
        with self._lock:
            for descriptor in self._held.values():
                os.close(descriptor)
            self._held.clear()
