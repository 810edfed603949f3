"""Group commit for the PostgreSQL event store: concurrent saves share one transaction.

eventsourcing's PostgreSQL recorder takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` in every save so
that notification ids are committed in the order they are issued and followers never pass over a
gap. The lock serialises saves, and each save pays its own round trips and its own commit (fsync).

Here the saves that arrive while a batch is being written queue up, and the next batch writes
them all in one transaction under one lock: one call of a PL/pgSQL function (see
``group_commit_sql``) that locks, notifies once and inserts every event of the batch, committed
in the same round trip. Each save still gets its own notification ids, or its own conflict: a
save whose (aggregate, version) is already stored is left out whole, so one conflicting save
never fails or half-writes another.

A writer thread takes everything queued as one batch whenever it is free, so a lone save waits
for no one and batches grow with the load. More writer threads (``in_flight``) are possible, but
measured here they only split the queue into smaller batches that wait on the table lock in turn.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import resolve_topic
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from adapters.group_commit_sql import create_insert_batch_function
from adapters.notification_reads import TupleNotificationReads

log = logging.getLogger(__name__)
DEFAULT_MAX_BATCH = 500
RETRY_ATTEMPTS, RETRY_WAIT_SECONDS = 10, 0.2  # as eventsourcing's own recorders retry
DEFAULT_IN_FLIGHT = 1

Key = tuple[UUID | str, int]


def _held_lock() -> threading.Lock:
    """A lock that blocks its waiter until released: the cheapest one-shot wake-up."""
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Save:
    """One caller's events, waiting to be written, and what became of them."""

    events: Sequence[StoredEvent]
    written: threading.Lock = field(default_factory=_held_lock)
    wakes_next: _Save | None = None
    ids: list[int] = field(default_factory=list)
    error: BaseException | None = None

    def keys(self) -> list[Key]:
        return [(e.originator_id, e.originator_version) for e in self.events]


@dataclass
class BatchStats:
    """How many batches were written and how many saves they carried."""

    batches: int = 0
    saves: int = 0
    largest: int = 0

    def record(self, size: int) -> None:
        self.batches += 1
        self.saves += size
        self.largest = max(self.largest, size)


class GroupCommitRecorder(TupleNotificationReads, PostgresApplicationRecorder):
    """An application recorder that writes concurrent saves in shared transactions."""

    lock_table = True  # only a test turns this off, to show that followers then skip events

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        max_batch: int = DEFAULT_MAX_BATCH,
        linger_seconds: float = 0.0,
        in_flight: int = DEFAULT_IN_FLIGHT,
        **tables: str,
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name, **tables)
        self.max_batch = max_batch
        self.linger_seconds = linger_seconds
        self.in_flight = in_flight
        self.stats = BatchStats()
        self._queue: deque[_Save] = deque()
        self._queued = threading.Condition()
        self._idle_writers = 0
        self._writers: list[threading.Thread] = []
        self._closing = False
        schema = Identifier(self.datastore.schema)
        function = Identifier(f"{self.events_table_name}_insert_batch")
        self.sql_create_statements.append(
            create_insert_batch_function(
                schema=schema,
                function=function,
                table=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
                id_type=SQL(self.datastore.originator_id_type),
                lock_timeout=self.datastore.lock_timeout,
                lock_table=self.lock_table,
            )
        )
        self._insert_batch = SQL("SELECT * FROM {}.{}(%s, %s, %s, %s, %s)").format(schema, function)

    def construct_pg_stored_event(
        self, originator_id: UUID | str, originator_version: int, topic: str, state: bytes
    ) -> Any:
        """As eventsourcing's, but a process that started before ``tiffin migrate`` made the
        stored-event type (TIFFIN_CREATE_TABLES off) looks the type up now, once."""
        if self.stored_event_type_name not in self.datastore.psycopg_python_types:
            self.datastore.register_type_adapters()
        return super().construct_pg_stored_event(originator_id, originator_version, topic, state)

    def create_table(self) -> None:
        """Creates the type, table, indexes and functions, one process at a time.

        Replicas starting together would otherwise race on CREATE TYPE and CREATE OR REPLACE
        FUNCTION (duplicate key in pg_type, "tuple concurrently updated"), across applications
        too, so the lock is the schema's. Under it, an existing type is simply passed over.
        """
        schema, type_name = self.datastore.schema, self.stored_event_type_name
        key = (f"tiffin-ddl:{schema}",)  # per schema: the applications' tables share types
        with self.datastore.get_connection() as conn:
            # Lock first, in a statement of its own: a transaction that began before the wait
            # could still see the catalog as it was before the lock holder created the type.
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", key)
            try:
                with conn.transaction(), conn.cursor() as curs:
                    found = curs.execute("SELECT to_regtype(%s) AS oid", (f"{schema}.{type_name}",))
                    type_exists = found.fetchone() not in (None, {"oid": None})
                    for statement in self.sql_create_statements:
                        if "CREATE TYPE" in statement.as_string() and type_exists:
                            continue
                        curs.execute(statement, prepare=False)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", key)
        self.datastore.register_type_adapters()

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        save = _Save(stored_events)
        with self._queued:
            if self._closing:
                raise ProgrammingError("the recorder is closed")
            if not self._writers:
                self._start_writers()
            self._queue.append(save)
            if self._idle_writers and (self.linger_seconds > 0 or len(self._queue) == 1):
                self._queued.notify()
        save.written.acquire()  # released once, when its batch is written (or failed)
        if save.wakes_next is not None:
            save.wakes_next.written.release()
        if save.error is not None:
            raise save.error
        return save.ids

    def close(self) -> None:
        """Writes what is queued, then stops the writer threads."""
        with self._queued:
            self._closing = True
            self._queued.notify_all()
        for writer in self._writers:
            writer.join()

    def _start_writers(self) -> None:
        for number in range(self.in_flight):
            writer = threading.Thread(
                target=self._write_batches,
                name=f"{self.events_table_name}-writer-{number}",
                daemon=True,
            )
            writer.start()
            self._writers.append(writer)

    def _write_batches(self) -> None:
        while batch := self._take_batch():
            try:
                self._write_batch(batch)
                self.stats.record(len(batch))
            except BaseException as error:
                for save in batch:
                    save.error = save.error or error
            # Wake the batch's writers in a chain, each the next, so this thread can go straight
            # on with the next batch instead of making one wake-up call per save.
            for save, successor in itertools.pairwise(batch):
                save.wakes_next = successor
            batch[0].written.release()

    def _take_batch(self) -> list[_Save]:
        """Up to ``max_batch`` queued saves, after lingering for more if so configured."""
        with self._queued:
            self._idle_writers += 1
            while not self._queue and not self._closing:
                self._queued.wait()
            if self.linger_seconds > 0:
                deadline = time.monotonic() + self.linger_seconds
                while len(self._queue) < self.max_batch and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._queued.wait(remaining)
            self._idle_writers -= 1
            count = min(len(self._queue), self.max_batch)
            return [self._queue.popleft() for _ in range(count)]

    def _write_batch(self, batch: list[_Save]) -> None:
        writing, conflicting = _split_repeated_keys(batch)
        numbered = [(n, event) for n, save in enumerate(writing) for event in save.events]
        columns = (
            [e.originator_id for _, e in numbered],
            [e.originator_version for _, e in numbered],
            [e.topic for _, e in numbered],
            [e.state for _, e in numbered],
            [n for n, _ in numbered],
        )
        results, retried = self._execute_retrying(columns)
        clashed = {-1 - n for n in results if n < 0}
        ids = iter(n for n in results if n >= 0)
        for number, save in enumerate(writing):
            if number not in clashed:
                save.ids = [next(ids) for _ in save.events]
            elif retried and (stored := self._stored_ids(save)) is not None:
                save.ids = stored  # an attempt that failed to answer had committed it
            else:
                conflicting.append(save)
        for save in conflicting:
            save.error = IntegrityError(
                "an event with the same aggregate id and version was recorded first"
            )

    def _execute_retrying(self, columns: tuple[list[Any], ...]) -> tuple[list[int], bool]:
        """The batch function's results, retried as the library retries its own inserts when
        the connection fails; True if it was retried (an attempt may have committed)."""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                with self.datastore.get_connection() as conn:
                    return self._execute_batch(conn, columns), attempt > 1
            except (InterfaceError, OperationalError) as error:
                if attempt == RETRY_ATTEMPTS:
                    raise
                log.warning("batch write failed (%s); retrying", error)
                time.sleep(RETRY_WAIT_SECONDS)
                self.datastore.pool.check()  # the pool's other idle connections may be dead too
        raise AssertionError("unreachable")

    def _stored_ids(self, save: _Save) -> list[int] | None:
        """The notification ids of the save's events if exactly these events are stored (an
        earlier attempt of this batch committed them), else None: a real conflict."""
        statement = SQL(
            "SELECT topic, state, notification_id FROM {}.{}"
            " WHERE originator_id = %s AND originator_version = %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        ids = []
        with self.datastore.get_connection() as conn:
            for event in save.events:
                row = conn.execute(statement, (event.originator_id, event.originator_version))
                found = row.fetchone()
                if found is None or (found["topic"], bytes(found["state"])) != (
                    event.topic,
                    event.state,
                ):
                    return None
                ids.append(int(found["notification_id"]))
        return ids

    def _execute_batch(
        self, conn: Connection[DictRow], columns: tuple[list[Any], ...]
    ) -> list[int]:
        """Runs the batch function in its own (autocommit) transaction: one round trip."""
        return [row["n"] for row in conn.execute(self._insert_batch, columns, prepare=True)]


class GroupCommitProcessRecorder(GroupCommitRecorder, PostgresProcessRecorder):
    """The recorder of a process application: commands' saves go through group commit, and
    a processed event's new events go with its tracking row in a transaction of their own,
    under the same table lock, so the two paths keep one commit order."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if kwargs.get("tracking") is None:
            return super().insert_events(stored_events, **kwargs)
        ids: Sequence[int] | None = PostgresApplicationRecorder.insert_events(
            self, stored_events, **kwargs
        )
        return ids


def _split_repeated_keys(batch: list[_Save]) -> tuple[list[_Save], list[_Save]]:
    """Saves to write, and saves that repeat an (aggregate, version) an earlier save writes."""
    seen: set[Key] = set()
    writing: list[_Save] = []
    repeating: list[_Save] = []
    for save in batch:
        keys = save.keys()
        if seen.isdisjoint(keys) and len(set(keys)) == len(keys):
            writing.append(save)
            seen.update(keys)
        else:
            repeating.append(save)
    return writing, repeating


class GroupCommitFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, with the group-commit application recorder.

    Select it with ``PERSISTENCE_MODULE=adapters.group_commit:GroupCommitFactory``; tune it with
    ``GROUP_COMMIT_MAX_BATCH`` (saves per transaction) and ``GROUP_COMMIT_LINGER_MS`` (how long a
    batch waits to fill; 0 = write whatever has queued, adding no latency).
    """

    GROUP_COMMIT_MAX_BATCH = "GROUP_COMMIT_MAX_BATCH"
    GROUP_COMMIT_LINGER_MS = "GROUP_COMMIT_LINGER_MS"
    GROUP_COMMIT_IN_FLIGHT = "GROUP_COMMIT_IN_FLIGHT"

    def close(self) -> None:
        for recorder in getattr(self, "_group_commit_recorders", ()):
            recorder.close()
        super().close()

    def application_recorder(self) -> ApplicationRecorder:
        recorder_class: type[GroupCommitRecorder] = GroupCommitRecorder
        if topic := self.env.get(self.APPLICATION_RECORDER_TOPIC):
            recorder_class = resolve_topic(topic)
            assert issubclass(recorder_class, GroupCommitRecorder)
        return self._recorder(recorder_class)

    def process_recorder(self) -> ProcessRecorder:
        recorder_class: type[GroupCommitProcessRecorder] = GroupCommitProcessRecorder
        if topic := self.env.get(self.PROCESS_RECORDER_TOPIC):
            recorder_class = resolve_topic(topic)
            assert issubclass(recorder_class, GroupCommitProcessRecorder)
        recorder = self._recorder(
            recorder_class,
            tracking_table_name=(self.env.name.lower() or "notification") + "_tracking",
        )
        assert isinstance(recorder, GroupCommitProcessRecorder)
        return recorder

    def _recorder(
        self, recorder_class: type[GroupCommitRecorder], **tables: str
    ) -> GroupCommitRecorder:
        recorder = recorder_class(
            datastore=self.datastore,
            events_table_name=(self.env.name.lower() or "stored") + "_events",
            max_batch=int(self.env.get(self.GROUP_COMMIT_MAX_BATCH) or DEFAULT_MAX_BATCH),
            linger_seconds=float(self.env.get(self.GROUP_COMMIT_LINGER_MS) or 0) / 1000,
            in_flight=int(self.env.get(self.GROUP_COMMIT_IN_FLIGHT) or DEFAULT_IN_FLIGHT),
            **tables,
        )
        if self.env_create_table():
            recorder.create_table()
        self._group_commit_recorders = [*getattr(self, "_group_commit_recorders", ()), recorder]
        return recorder
