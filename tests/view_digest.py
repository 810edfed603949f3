"""A digest of a projection's view: every row of each of its tables, in a fixed order, hashed.

Two views with equal digests hold the same rows. Rows are put in order by their text (the same
on either side of a comparison, whatever the column types), not by SQL, so columns of types
without an ordering (json) are no obstacle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from projections.projector import Projection
from projections.sql_views import table_names
from projections.views import SqlDatabase


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


def view_digest(database: SqlDatabase, projection: Projection) -> dict[str, TableDigest]:
    """Each of the projection's tables: how many rows it holds and a hash of them all."""
    digests = {}
    with database.transaction() as run:
        for table in table_names(projection):
            cursor = run(f"SELECT * FROM {table}", ())
            columns = [column[0] for column in cursor.description]
            rows = sorted(repr(tuple(row)) for row in cursor.fetchall())
            digest = hashlib.sha256(repr(columns).encode())
            for row in rows:
                digest.update(f"\n{row}".encode())
            digests[table] = TableDigest(len(rows), digest.hexdigest())
    return digests
