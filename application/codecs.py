"""How the domain's value objects are written into stored events (JSON)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
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
        for key, value in data.items():
            if type(value) is list:
                data[key] = tuple(value)
        return self.type(**data)


def register_value_types(transcoder: JSONTranscoder) -> None:
    for cls in VALUE_TYPES:
        transcoder.register(DataclassAsDict(cls))


class EventTranscoder(JSONTranscoder):
    """The stored events' JSON, written exactly as eventsourcing writes it, read with orjson.

    eventsourcing reads through the standard library's decoder with an ``object_hook``, a
    Python call per JSON object; this parses in orjson and then revives only the objects that
    are transcodings (``{"_type_": …, "_data_": …}``), innermost first as the hook does.
    Text orjson refuses (NaN, integers past 64 bits, which the standard encoder writes) is
    read by the standard decoder instead, so everything written stays readable.
    """

    def decode(self, data: bytes) -> Any:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        return self._revive(parsed) if type(parsed) in _CONTAINERS else parsed

    def _revive(self, value: Any) -> Any:
        """The JSON object or array with its transcodings decoded, innermost first."""
        if type(value) is list:
            return [self._revive(item) if type(item) in _CONTAINERS else item for item in value]
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            data = value["_data_"]
            transcoding = self.names.get(value["_type_"])
            if transcoding is None:
                return self._decode_obj(value)  # raises the library's own error
            return transcoding.decode(self._revive(data) if type(data) in _CONTAINERS else data)
        for key, item in value.items():
            if type(item) in _CONTAINERS:
                value[key] = self._revive(item)
        return value


_CONTAINERS = (dict, list)
