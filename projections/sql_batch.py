"""Writing a batch of events' changes to SQL views with few statements.

Within one transaction, the appliers' upserts of the same row are merged into one (an upsert
only sets columns to new values, so the last value of each column wins) and their additions to
the same counters are summed; the merged rows are written as multi-row statements, per table
and set of columns, when the batch ends or before any other statement runs (which may read or
change those rows). A row read once in a batch is remembered for the rest of it: a later read
of it is answered from memory, the batch's own upserts laid over what was read (an upsert only
sets columns, so the row is what was stored with the batch's newer values on top). Any plain
statement forgets what was read, since it may change those rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from projections.views import Run

_ABSENT: dict[str, Any] = {}  # read, and no such row
ROWS_PER_STATEMENT = 500  # well under SQLite's 32,766 and PostgreSQL's 65,535 parameters
Key = tuple[tuple[str, Any], ...]  # a row's key columns and values
Row = tuple[str, str, Key]  # (kind, table, key)


class BatchedRun:
    """The ``run`` appliers get within a batch: plain statements run in order, upserts and
    additions held back and merged until the next plain statement or the end."""

    def __init__(self, run: Run, rows_as_json: bool = False) -> None:
        self._run = run
        self._rows_as_json = rows_as_json  # see SqlDatabase.rows_as_json
        self._pending: dict[Row, dict[str, Any]] = {}
        self._read: dict[Row, dict[str, Any]] = {}  # rows as stored when this batch read them

    def __call__(self, sql: str, params: Sequence[Any]) -> Any:
        self.flush()
        self._read.clear()
        return self._run(sql, params)

    def upsert(self, table: str, key: Mapping[str, Any], columns: Mapping[str, Any]) -> None:
        self._hold("upsert", table, key).update(columns)

    def add(self, table: str, key: Mapping[str, Any], amounts: Mapping[str, int | float]) -> None:
        held = self._hold("add", table, key)
        for name, amount in amounts.items():
            held[name] = held.get(name, 0) + amount

    def row(self, table: str, key: Mapping[str, Any], columns: Sequence[str]) -> Any:
        """These columns of the one row with this key as the batch has left it, or None when
        there is no such row; asks the store only for a row this batch has not read yet."""
        row = ("upsert", table, tuple(key.items()))
        if (held := self._held(table, key, columns)) is not None:
            return held  # set by this batch: nothing to read
        stored = self._read.get(row)
        if stored is None:
            if ("add", table, row[2]) in self._pending or row in self._pending:
                self.flush()  # a row the store lacks, or one added to: read it as written
            stored = self._read[row] = self._stored(table, key)
        if stored is _ABSENT:
            return None
        current = {**stored, **self._pending.get(row, {})}
        return tuple(current[column] for column in columns)

    def _stored(self, table: str, key: Mapping[str, Any]) -> dict[str, Any]:
        where = " AND ".join(f"{name} = ?" for name in key)
        cursor = self._run(f"SELECT * FROM {table} WHERE {where}", tuple(key.values()))  # noqa: S608
        rows = cursor.fetchall()
        if len(rows) != 1:
            return _ABSENT
        names = [column[0] for column in cursor.description]
        return dict(zip(names, rows[0], strict=True))

    def _held(self, table: str, key: Mapping[str, Any], columns: Sequence[str]) -> Any:
        """These columns of the row as this batch set them, or None if it did not set them all."""
        row = self._pending.get(("upsert", table, tuple(key.items())))
        if row is None or not all(column in row for column in columns):
            return None
        return tuple(row[column] for column in columns)

    def _hold(self, kind: str, table: str, key: Mapping[str, Any]) -> dict[str, Any]:
        other = "add" if kind == "upsert" else "upsert"
        if (other, table, tuple(key.items())) in self._pending:
            self.flush()  # the same row both set and added to: keep the two in order
        return self._pending.setdefault((kind, table, tuple(key.items())), {})

    def flush(self) -> None:
        groups: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], list[list[Any]]] = {}
        for (kind, table, key), columns in self._pending.items():
            if self._read:
                self._written(kind, table, key, columns)
            names = tuple(name for name, _ in key)
            group = groups.setdefault((kind, table, names, tuple(columns)), [])
            group.append([*(value for _, value in key), *columns.values()])
        self._pending.clear()
        for (kind, table, key_names, column_names), rows in groups.items():
            written = self._rows_as_json and _as_json([*key_names, *column_names], rows)
            if written:
                self._run(json_statement(kind, table, key_names, column_names), (written,))
                continue
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[start : start + ROWS_PER_STATEMENT]
                sql = statement(kind, table, key_names, column_names, len(chunk))
                self._run(sql, [value for row in chunk for value in row])

    def _written(self, kind: str, table: str, key: Key, columns: dict[str, Any]) -> None:
        """What a row read earlier in the batch is once this held change of it is written."""
        read = ("upsert", table, key)
        stored = self._read.get(read)
        if stored is None:
            return
        if kind == "upsert" and stored is not _ABSENT:
            stored.update(columns)
        else:  # a new row, or one added to: read it again if asked
            del self._read[read]


def statement(
    kind: str, table: str, keys: Sequence[str], columns: Sequence[str], rows: int = 1
) -> str:
    """``INSERT … ON CONFLICT`` of ``rows`` rows: ``upsert`` sets the columns (or, with none,
    keeps the row), ``add`` adds to them."""
    names = [*keys, *columns]
    values = ", ".join(["(" + ", ".join("?" for _ in names) + ")"] * rows)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES {values}"  # noqa: S608 (names are ours)
        f" {_on_conflict(kind, table, keys, columns)}"
    )


def json_statement(kind: str, table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    """``statement`` for any number of rows, given as one parameter: a JSON array of objects
    by column name, read as rows of the table's own type (PostgreSQL)."""
    names = ", ".join([*keys, *columns])
    return (
        f"INSERT INTO {table} ({names}) SELECT {names}"  # noqa: S608 (names are ours)
        f" FROM json_populate_recordset(NULL::{table}, CAST(? AS json))"
        f" {_on_conflict(kind, table, keys, columns)}"
    )


def _as_json(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str | None:
    """The rows as a JSON array of objects; None if JSON cannot carry a value exactly (a
    number that is not finite or too large, a value orjson does not write): those rows go
    as plain parameters instead."""
    if any(type(value) is float and not math.isfinite(value) for value in _values(rows)):
        return None
    try:
        return orjson.dumps([dict(zip(names, row, strict=True)) for row in rows]).decode()
    except TypeError:  # orjson's JSONEncodeError
        return None


def _values(rows: Sequence[Sequence[Any]]) -> Iterator[Any]:
    for row in rows:
        yield from row


def _on_conflict(kind: str, table: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    if kind == "add":
        action = "DO UPDATE SET " + ", ".join(
            f"{name} = {table}.{name} + excluded.{name}" for name in columns
        )
    elif columns:
        action = "DO UPDATE SET " + ", ".join(f"{name} = excluded.{name}" for name in columns)
    else:
        action = "DO NOTHING"
    return f"ON CONFLICT ({', '.join(keys)}) {action}"
