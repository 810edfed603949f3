"""The port the SQL views are written through (SQLite or PostgreSQL: see ``adapters/sql.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

Run = Callable[[str, Sequence[Any]], Any]  # runs one statement with ``?`` placeholders


class SqlDatabase(Protocol):
    # Whether a statement may take many rows as one JSON parameter (PostgreSQL's
    # json_populate_recordset): its driver parses a statement of many parameters anew each
    # time it runs, which costs a view's batch more than writing its rows does.
    rows_as_json: bool

    def transaction(self, durable: bool = True) -> Any:
        """A context manager yielding ``run``; commits on success, rolls back on error;
        ``durable=False``: a crash of the database server may lose the whole commit."""
        ...

    def close(self) -> None: ...
