"""Opaque list cursors: the keyset of the last row of a page, base64url-encoded."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID

from api.problems import ApiProblem


def encode_cursor(after: tuple[str, str] | None) -> str | None:
    if after is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        first, second = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ApiProblem(422, "cursor is not one this API gave out") from None
    if not isinstance(first, str) or not isinstance(second, str) or not _keyset(first, second):
        raise ApiProblem(422, "cursor is not one this API gave out")
    return first, second


def _keyset(placed_at: str, order_id: str) -> bool:
    try:
        datetime.fromisoformat(placed_at)
        UUID(order_id)
    except ValueError:
        return False
    return True
