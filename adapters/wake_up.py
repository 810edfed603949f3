"""Waking a worker as soon as another process commits events (server mode).

The event store's insert function NOTIFYs its table's channel in the same transaction as the
events, so the notification arrives only once they are committed. A thread LISTENs on the
channels and wakes the runtime, which otherwise polls every ``TIFFIN_WORKER_POLL_SECONDS``: an
idle worker stays cheap and a busy one is not late by a poll interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import psycopg
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 1.0
CHECK_STOP_SECONDS = 0.5


class PostgresWakeUp:
    def __init__(self, database_url: str, channels: Sequence[str]) -> None:
        self.database_url = database_url
        self.channels = list(channels)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, wake: Callable[[], None]) -> None:
        self._thread = threading.Thread(
            target=self._listen, args=(wake,), name="tiffin-wake-up", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _listen(self, wake: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True) as connection:
                    for channel in self.channels:
                        connection.execute(SQL("LISTEN {}").format(Identifier(channel)))
                    wake()  # whatever was committed while nobody listened
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=CHECK_STOP_SECONDS, stop_after=1):
                            wake()
            except psycopg.OperationalError as error:
                log.warning("listening for new events failed (%s); polling meanwhile", error)
                self._stop.wait(RECONNECT_SECONDS)


class WakeUps:
    """Listening on several databases at once (contexts with databases of their own)."""

    def __init__(self, listeners: Sequence[PostgresWakeUp]) -> None:
        self.listeners = list(listeners)

    def start(self, wake: Callable[[], None]) -> None:
        for listener in self.listeners:
            listener.start(wake)

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
