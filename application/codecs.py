"""How the domain's value objects are written into stored events (JSON)."""

from __future__ import annotations

import dataclasses
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.order import DeliveryAddress, Rating
from domain.payment import Refund
from domain.restaurant import MenuItem, OrderLine
from domain.values import Cause, Location, Money

VALUE_TYPES: tuple[type[Any], ...] = (
    Cause,
    Money,
    Location,
    MenuItem,
    OrderLine,
    DeliveryAddress,
    Rating,
    Refund,
)


class DataclassAsDict(Transcoding):
    """Writes a frozen dataclass as its fields; JSON arrays are read back as tuples."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = cls.__name__
        self._fields = tuple(field.name for field in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return self.type(**values)


def register_value_types(transcoder: JSONTranscoder) -> None:
    for cls in VALUE_TYPES:
        transcoder.register(DataclassAsDict(cls))
