"""List cursors: the keyset of a page's last row, as ``<microseconds since 1970>_<order id>``.

Every text of that shape (``CURSOR_PATTERN``, which the OpenAPI document gives) is a place in
the list, so a client may write one itself ("orders placed before this moment"); anything else
is a 422.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import Query

from api.problems import ApiProblem

CURSOR_PATTERN = r"^[0-9]{1,17}_[0-9a-f]{32}$"  # 10**17 µs is within year 5138
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Cursor = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="next_cursor of the page before"),
]


def encode_cursor(after: tuple[datetime, str] | None) -> str | None:
    if after is None:
        return None
    placed_at, order_id = after
    micros = (placed_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{UUID(order_id).hex}"


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    micros, _, order_id = cursor.partition("_")
    try:
        return EPOCH + timedelta(microseconds=int(micros)), str(UUID(hex=order_id))
    except ValueError:
        raise ApiProblem(422, "cursor is not one this API gave out") from None
