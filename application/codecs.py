"""How the domain's value objects are written into stored events (JSON)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.order import DeliveryAddress, Rating
from domain.payment import Refund
from domain.restaurant import MenuItem, OrderLine
from domain.values import Cause, Location, Money, Role

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


_new = object.__new__
_set = object.__setattr__


class DataclassAsDict(Transcoding):
    """Writes a frozen dataclass as its fields; JSON arrays are read back as tuples.

    Reading revives the object without its ``__init__``, the way eventsourcing revives the
    events themselves: what is stored was validated when the value was made, and a
    constructor per value (``object.__setattr__`` per field, ``__post_init__``'s checks) was
    the largest part of decoding an event. What ``__post_init__`` converts is converted here
    too (``coerce``: a field's conversion), so a revived value has exactly the constructed
    value's fields and types (tested per type). A stored value whose fields are not exactly
    the type's (a defaulted field left out, say) goes through the constructor instead.
    """

    def __init__(self, cls: type[Any], **coerce: Callable[[Any], Any]) -> None:
        self.type = cls
        self.name = cls.__name__
        self._fields = tuple(field.name for field in dataclasses.fields(cls))
        self._names = frozenset(self._fields)
        self._coerce = tuple(coerce.items())

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        for key, value in data.items():
            if type(value) is list:
                data[key] = tuple(value)
        if data.keys() != self._names:
            return self.type(**data)
        for key, convert in self._coerce:
            data[key] = convert(data[key])
        revived: Any = _new(self.type)
        _set(revived, "__dict__", data)
        return revived


_ROLES = {role.value: role for role in Role}


def _role(value: str) -> Role:
    return _ROLES.get(value) or Role(value)


COERCIONS: dict[type[Any], dict[str, Callable[[Any], Any]]] = {
    Cause: {"role": _role},
    Location: {"lat": float, "lng": float},
}


class UUIDAsHex(Transcoding):
    """eventsourcing's ``uuid_hex``, read without ``UUID.__init__``'s parsing: the stored text
    is the 32 hex digits ``UUID.hex`` wrote (any other text goes through ``UUID``)."""

    type = UUID
    name = "uuid_hex"

    def encode(self, obj: UUID) -> str:
        return obj.hex

    def decode(self, data: str) -> UUID:
        try:
            value = int.from_bytes(bytes.fromhex(data)) if len(data) == 32 else None
        except ValueError:
            value = None
        if value is None:
            return UUID(data)  # what UUID makes of other text, or its error
        uuid = _new(UUID)
        _set(uuid, "int", value)
        _set(uuid, "is_safe", SafeUUID.unknown)
        return uuid


def register_value_types(transcoder: JSONTranscoder) -> None:
    """The domain's value types, and the faster ``uuid_hex`` (in place of the library's)."""
    transcoder.register(UUIDAsHex())
    for cls in VALUE_TYPES:
        transcoder.register(DataclassAsDict(cls, **COERCIONS.get(cls, {})))


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
