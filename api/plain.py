"""Domain values as plain JSON: for auditors' event data, which holds value objects."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from api.schemas.common import money_out
from domain.values import Money


def plain(value: Any) -> Any:
    """JSON-ready: Money as {amount, currency}, dataclasses as objects, ids and times as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Money):
        return money_out(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)
