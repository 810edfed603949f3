"""A batch reads each row it looks up once: later lookups come from memory, with the batch's
own newer values laid over what was stored, and stay right across its writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from projections.sql_batch import BatchedRun
from projections.sql_helpers import remembered, upsert

TABLE = "orders_seen"


class CountingRun:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.selects = 0

    def __call__(self, sql: str, params: Sequence[Any]) -> Any:
        self.selects += sql.startswith("SELECT")
        return self.connection.execute(sql, params)


@pytest.fixture
def run() -> Iterator[CountingRun]:
    connection = sqlite3.connect(":memory:")
    connection.execute(f"CREATE TABLE {TABLE} (order_id TEXT PRIMARY KEY, day TEXT, stage TEXT)")
    connection.execute(f"INSERT INTO {TABLE} VALUES ('a', '2026-12-01', 'placed')")
    yield CountingRun(connection)
    connection.close()


def test_a_row_is_read_once_per_batch_and_then_answered_with_the_batchs_own_changes(
    run: CountingRun,
) -> None:
    batch = BatchedRun(run)
    key = {"order_id": "a"}

    assert remembered(batch, TABLE, key, ("day", "stage")) == ("2026-12-01", "placed")
    upsert(batch, TABLE, key, stage="paid")
    assert remembered(batch, TABLE, key, ("day", "stage")) == ("2026-12-01", "paid")
    batch.flush()  # written: what is remembered moves on with it
    upsert(batch, TABLE, key, stage="accepted")
    assert remembered(batch, TABLE, key, ("day", "stage")) == ("2026-12-01", "accepted")

    assert run.selects == 1
    batch.flush()
    stored = run.connection.execute(f"SELECT day, stage FROM {TABLE}").fetchall()
    assert stored == [("2026-12-01", "accepted")]


def test_a_missing_row_is_missing_until_the_batch_writes_it(run: CountingRun) -> None:
    batch = BatchedRun(run)
    key = {"order_id": "b"}
    with pytest.raises(LookupError, match="no row"):
        remembered(batch, TABLE, key, ("day",))
    upsert(batch, TABLE, key, day="2026-12-02", stage="placed")
    assert remembered(batch, TABLE, key, ("day", "stage")) == ("2026-12-02", "placed")
    batch.flush()
    upsert(batch, TABLE, key, stage="paid")
    assert remembered(batch, TABLE, key, ("day", "stage")) == ("2026-12-02", "paid")


def test_any_other_statement_makes_the_batch_read_again(run: CountingRun) -> None:
    batch = BatchedRun(run)
    key = {"order_id": "a"}
    remembered(batch, TABLE, key, ("stage",))
    batch(f"UPDATE {TABLE} SET stage = ? WHERE order_id = ?", ("rejected", "a"))
    assert remembered(batch, TABLE, key, ("stage",)) == ("rejected",)
    assert run.selects == 2
