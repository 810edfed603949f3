"""What an order leaves behind, for the capacity plan: the events it appends (by type, and
the Kafka messages they become), their stored bytes, the PostgreSQL WAL written, and Redis'
memory, measured as differences across a benchmark row (the row's load and the catch-up of
the saga and views after it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from redis import Redis

from application.integration_events import contracts_by_event
from bench.api_server import ApiStack

EVENTS_TABLES = (
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = current_schema() AND table_name LIKE '%\\_events'"
)


@dataclass(frozen=True)
class Snapshot:
    heads: dict[str, int]  # events table -> its highest notification id
    wal_bytes: int
    commits: int  # transactions committed in the database (pg_stat_database)
    redis_bytes: int
    redis_keys: int
    table_reads: int = 0  # sequential and index scans of the database's tables
    rows_written: int = 0  # rows inserted, updated and deleted
    redis_commands: int = 0  # every command Redis processed (INFO stats)


@dataclass(frozen=True)
class Footprint:
    orders: int
    events: Counter[str]  # by type, e.g. "Order.Placed"
    event_bytes: int  # topic + state as stored (zlib from 1 KiB, encrypted if configured)
    wal_bytes: int
    commits: int
    redis_bytes: int
    redis_keys: int
    table_reads: int = 0
    rows_written: int = 0
    redis_commands: int = 0

    def per_order(self) -> dict[str, Any]:
        orders = max(self.orders, 1)
        published = contracts_by_event()
        messages = sum(n * len(published.get(kind, ())) for kind, n in self.events.items())
        events = sum(self.events.values())
        return {
            "orders": self.orders,
            "events_per_order": round(events / orders, 2),
            "bytes_per_event": round(self.event_bytes / max(events, 1), 1),
            "wal_bytes_per_order": round(self.wal_bytes / orders),
            "commits_per_order": round(self.commits / orders, 2),
            # the database's work in statements: each table scan is a query's read (or one
            # of a join's), each row written a statement's (several for a batch)
            "table_reads_per_order": round(self.table_reads / orders, 2),
            "rows_written_per_order": round(self.rows_written / orders, 2),
            "redis_commands_per_order": round(self.redis_commands / orders, 2),
            "redis_bytes_per_order": round(self.redis_bytes / orders),
            "redis_keys_per_order": round(self.redis_keys / orders, 2),
            "kafka_messages_per_order": round(messages / orders, 2),
            "events_by_type_per_order": {
                kind: round(n / orders, 2) for kind, n in sorted(self.events.items())
            },
        }


def snapshot(database_url: str, redis: Redis | None, prefix: str | None) -> Snapshot:
    with psycopg.connect(database_url, autocommit=True) as connection:
        tables = [row[0] for row in connection.execute(EVENTS_TABLES).fetchall()]
        heads = {}
        for table in tables:
            row = connection.execute(
                psycopg.sql.SQL("SELECT COALESCE(MAX(notification_id), 0) FROM {}").format(
                    psycopg.sql.Identifier(table)
                )
            ).fetchone()
            heads[table] = int(row[0]) if row else 0
        lsn = connection.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()
        connection.execute("SELECT pg_stat_clear_snapshot()")
        commits = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        work = connection.execute(
            "SELECT COALESCE(SUM(COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0)), 0),"
            " COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        ).fetchone()
    memory = keys = commands = 0
    if redis is not None:
        memory = int(redis.info("memory")["used_memory"])
        keys = sum(1 for _ in redis.scan_iter(match=f"{prefix or ''}*", count=1000))
        commands = int(redis.info("stats")["total_commands_processed"])
    reads, written = (int(work[0]), int(work[1])) if work else (0, 0)
    return Snapshot(
        heads,
        int(lsn[0]) if lsn else 0,
        int(commits[0]) if commits else 0,
        memory,
        keys,
        reads,
        written,
        commands,
    )


def footprint(database_url: str, before: Snapshot, after: Snapshot, orders: int) -> Footprint:
    """The events appended between the snapshots (by type, with their stored bytes)."""
    events: Counter[str] = Counter()
    stored = 0
    with psycopg.connect(database_url, autocommit=True) as connection:
        for table, head in after.heads.items():
            rows = connection.execute(
                psycopg.sql.SQL(
                    "SELECT topic, COUNT(*), SUM(octet_length(topic) + octet_length(state))"
                    " FROM {} WHERE notification_id > %s AND notification_id <= %s GROUP BY topic"
                ).format(psycopg.sql.Identifier(table)),
                (before.heads.get(table, 0), head),
            ).fetchall()
            for topic, count, size in rows:
                events[str(topic).rsplit(":", 1)[-1]] += int(count)
                stored += int(size or 0)
    return Footprint(
        orders,
        events,
        stored,
        after.wal_bytes - before.wal_bytes,
        after.commits - before.commits,
        after.redis_bytes - before.redis_bytes,
        after.redis_keys - before.redis_keys,
        after.table_reads - before.table_reads,
        after.rows_written - before.rows_written,
        after.redis_commands - before.redis_commands,
    )


@dataclass(frozen=True)
class Weighing:
    """A footprint in the making: the snapshot and CPU times before a row."""

    before: Snapshot
    cpu: dict[str, float]

    @classmethod
    def start(cls, stack: ApiStack) -> Weighing:
        assert stack.database_url is not None
        return cls(_snapshot_of(stack), stack.cpu_seconds())

    def finish(self, stack: ApiStack, orders: int) -> dict[str, Any]:
        """Per order, over the row and the catch-up after it: the footprint, and the CPU of
        the server, the worker and the rest of the machine (PostgreSQL, Redis, ...)."""
        assert stack.database_url is not None
        after, cpu = _snapshot_of(stack), stack.cpu_seconds()
        used = {name: cpu[name] - self.cpu[name] for name in cpu}
        ours = sum(used.get(name, 0.0) for name in ("client", "server", "worker"))
        used["rest"] = max(used.pop("machine") - ours, 0.0)
        used.pop("client")
        weighed_orders = footprint(stack.database_url, self.before, after, orders)
        placed = weighed_orders.events.get("Order.Placed", 0)
        if placed:  # orders still in flight when the row ended were placed too
            weighed_orders = replace(weighed_orders, orders=placed)
        weighed = weighed_orders.per_order()
        weighed["answered"] = orders
        per = max(weighed_orders.orders, 1)
        weighed["cpu_ms_per_order"] = {k: round(v * 1000 / per, 3) for k, v in used.items()}
        weighed["cpu_ms_per_order_server_side"] = round(sum(used.values()) * 1000 / per, 3)
        return weighed


def _snapshot_of(stack: ApiStack) -> Snapshot:
    assert stack.database_url is not None
    redis = Redis.from_url(stack.redis_url) if stack.redis_url else None
    try:
        return snapshot(stack.database_url, redis, stack.redis_prefix)
    finally:
        if redis is not None:
            redis.close()
