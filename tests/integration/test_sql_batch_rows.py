"""A view batch's merged rows reach PostgreSQL as one JSON parameter per table: stored exactly
as the same rows written as plain parameters are, and what JSON cannot carry exactly (a
number that is not finite or too large, a Decimal) still goes as parameters."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sql import PostgresDatabase
from projections.sql_batch import BatchedRun

COLUMNS = (
    "label TEXT, amount BIGINT, stars INTEGER, ratio DOUBLE PRECISION, open BOOLEAN,"
    " at TIMESTAMP WITH TIME ZONE, exact NUMERIC, visits BIGINT NOT NULL DEFAULT 0"
)
TABLES = ("as_json", "as_parameters")


@pytest.fixture
def database(postgres_url: str) -> Iterator[PostgresDatabase]:
    database = PostgresDatabase(postgres_url)
    with database.transaction() as run:
        for table in TABLES:
            run(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, {COLUMNS})", ())
    yield database
    database.close()


TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=8)
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "label": st.none() | TEXT,
            "amount": st.integers(-(2**63), 2**63 - 1),
            "stars": st.none() | st.integers(1, 5),
            "ratio": st.floats(allow_nan=False, allow_infinity=False),
            "open": st.booleans(),
            "at": st.none()
            | st.datetimes(
                min_value=datetime(1970, 1, 1),
                max_value=datetime(2100, 1, 1),
                timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
            ),
        }
    ),
    min_size=1,
    max_size=30,
)


def _write(database: PostgresDatabase, table: str, rows: list[dict[str, Any]], json: bool) -> None:
    with database.transaction() as run:
        batch = BatchedRun(run, rows_as_json=json)
        for number, row in enumerate(rows):
            key = {"id": f"row-{number % 20}"}  # some rows set twice: merged in the batch
            batch.upsert(table, key, row)
            batch.add(table, {"id": f"count-{number % 3}"}, {"visits": number})
        batch.flush()


def _stored(database: PostgresDatabase, table: str) -> list[tuple[Any, ...]]:
    with database.transaction() as run:
        return [tuple(row) for row in run(f"SELECT * FROM {table} ORDER BY id", ()).fetchall()]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_rows_sent_as_json_are_stored_as_rows_sent_as_parameters(
    database: PostgresDatabase, rows: list[dict[str, Any]]
) -> None:
    for table in TABLES:
        with database.transaction() as run:
            run(f"DELETE FROM {table}", ())
    _write(database, "as_json", rows, json=True)
    _write(database, "as_parameters", rows, json=False)
    assert _stored(database, "as_json") == _stored(database, "as_parameters")


@pytest.mark.parametrize(
    "odd",
    [
        {"ratio": float("nan")},
        {"ratio": float("-inf")},
        {"exact": 2**70},
        {"exact": Decimal("0.1")},
    ],
    ids=["nan", "infinity", "past-64-bits", "decimal"],
)
def test_what_json_cannot_carry_exactly_is_stored_exactly(
    database: PostgresDatabase, odd: dict[str, Any]
) -> None:
    rows = [{"label": "plain", "ratio": 0.5}, {"label": "odd", **odd}]
    _write(database, "as_json", rows, json=True)
    ((column, value),) = odd.items()
    with database.transaction() as run:
        stored = run(f"SELECT {column} FROM as_json WHERE id = ?", ("row-1",)).fetchone()[0]
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(stored)  # NaN, not NULL: JSON would have written null
    else:
        assert stored == value


def test_a_batch_of_thousands_of_rows_is_one_statement(postgres_url: str) -> None:
    statements: list[str] = []
    database = PostgresDatabase(postgres_url)
    with database.transaction() as run:
        run(f"CREATE TABLE as_json (id TEXT PRIMARY KEY, {COLUMNS})", ())

        def counted(sql: str, params: Any) -> Any:
            statements.append(sql)
            return run(sql, params)

        batch = BatchedRun(counted, rows_as_json=True)
        for _ in range(5000):
            batch.upsert("as_json", {"id": str(uuid4())}, {"label": "x", "amount": 1})
        batch.flush()
        assert run("SELECT count(*), sum(amount) FROM as_json", ()).fetchone() == (5000, 5000)
    database.close()
    assert len(statements) == 1
