"""What the projections share: setting a row's columns, adding to its counters, reading one
remembered row, and the UTC day and minutes of event timestamps.

Statements use ``?`` placeholders and portable SQL (``INSERT … ON CONFLICT``, ``excluded``), so
they run on SQLite and PostgreSQL alike. Table and column names are the projections' own
constants, never input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from projections.sql_batch import BatchedRun, statement
from projections.views import Run

SECONDS_PER_MINUTE = 60


def upsert(run: Run, table: str, key: Mapping[str, Any], **columns: Any) -> None:
    """Sets these columns of the row with this key, creating the row if it is not there yet;
    the row's other columns keep their values (or defaults). A column that some events leave
    out cannot be NOT NULL: the insert is checked before the conflict makes it an update."""
    if isinstance(run, BatchedRun):
        run.upsert(table, key, columns)
        return
    run(statement("upsert", table, list(key), list(columns)), (*key.values(), *columns.values()))


def add(run: Run, table: str, key: Mapping[str, Any], **amounts: int | float) -> None:
    """Adds these amounts to the counters of the row with this key (counters start at their
    default, 0). Additions commute: the row ends the same whatever order they come in."""
    if isinstance(run, BatchedRun):
        run.add(table, key, amounts)
        return
    run(statement("add", table, list(key), list(amounts)), (*key.values(), *amounts.values()))


def remembered(run: Run, table: str, key: Mapping[str, Any], columns: Sequence[str]) -> Any:
    """The columns of the one row with this key: what an earlier event of the same log wrote.
    A missing row is an error (the event cannot be applied and is parked)."""
    if isinstance(run, BatchedRun):
        found = run.row(table, key, columns)
    else:
        where = " AND ".join(f"{name} = ?" for name in key)
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"  # noqa: S608 (our names)
        rows = run(sql, tuple(key.values())).fetchall()
        found = rows[0] if len(rows) == 1 else None
    if found is None:
        raise LookupError(f"{table} has no row {dict(key)}")
    return found


def day_of(moment: datetime) -> str:
    """The UTC date of a timestamp, as ``YYYY-MM-DD``."""
    return moment.astimezone(UTC).date().isoformat()


def as_datetime(value: datetime | str) -> datetime:
    """A timestamp read back from a view: PostgreSQL gives a datetime, SQLite the ISO text
    the datetime was written as."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def minutes_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / SECONDS_PER_MINUTE
