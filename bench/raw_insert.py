"""(a) The physical ceiling: single-row INSERT commits into an event-shaped table."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import psycopg

from bench.harness import Measurement, run_writers

PAYLOAD_BYTES = 300
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw_events (
    id bigserial PRIMARY KEY,
    stream uuid NOT NULL,
    version integer NOT NULL,
    topic text NOT NULL,
    payload bytea NOT NULL,
    UNIQUE (stream, version)
)"""
INSERT = "INSERT INTO bench_raw_events (stream, version, topic, payload) VALUES (%s, 1, %s, %s)"


@contextmanager
def _connections(database_url: str, count: int) -> Iterator[list[psycopg.Connection[Any]]]:
    connections = [psycopg.connect(database_url, autocommit=True) for _ in range(count)]
    try:
        yield connections
    finally:
        for connection in connections:
            connection.close()


def measure_raw_inserts(database_url: str, writers: int, seconds: float) -> Measurement:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(CREATE_TABLE)
    payload = os.urandom(PAYLOAD_BYTES)
    with _connections(database_url, writers) as connections:

        def insert_on(n: int) -> Callable[[], object]:
            conn = connections[n]
            return lambda: conn.execute(INSERT, (uuid4(), "bench:Event", payload), prepare=True)

        return run_writers(writers, seconds, insert_on)
