"""Stored events read exactly as eventsourcing's own JSON decoder reads them, only faster, and
compressed or not, whatever earlier versions wrote."""

from __future__ import annotations

import math
import re
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from adapters.event_compression import LARGE, LargeStatesCompressed
from application.codecs import EventTranscoder, register_value_types
from domain.restaurant import OrderLine
from domain.values import Cause, Location, Money, Role


def transcoder(kind: type[JSONTranscoder]) -> JSONTranscoder:
    made = kind()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        made.register(transcoding)
    register_value_types(made)
    return made


LIBRARY, OURS = transcoder(JSONTranscoder), transcoder(EventTranscoder)

money = st.builds(Money, st.integers(0, 10**9), st.sampled_from(["INR", "USD"]))
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**6),
    st.datetimes(timezones=st.just(UTC)),
    money,
    st.builds(Location, st.floats(-90, 90), st.floats(-180, 180)),
    st.builds(Cause, st.text(min_size=1, max_size=10), st.sampled_from(list(Role)), st.text()),
    st.builds(OrderLine, st.uuids(), st.text(min_size=1, max_size=10), money, st.integers(1, 9)),
)
documents = st.recursive(
    values,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=12), documents, max_size=6))
def test_every_state_reads_back_as_the_library_reads_it(state: dict[str, Any]) -> None:
    stored = LIBRARY.encode(state)

    assert OURS.encode(state) == stored  # written exactly as before
    assert OURS.decode(stored) == LIBRARY.decode(stored)


def test_what_orjson_refuses_is_read_by_the_standard_decoder() -> None:
    stored = LIBRARY.encode(
        {"big": 2**80, "nan": math.nan, "when": datetime(2026, 12, 3, tzinfo=UTC)}
    )

    read = OURS.decode(stored)

    assert read["big"] == 2**80
    assert math.isnan(read["nan"])
    assert read["when"] == datetime(2026, 12, 3, tzinfo=UTC)


def test_an_unknown_transcoding_is_the_library_error() -> None:
    stored = b'{"x":{"_type_":"no_such_type","_data_":"1"}}'

    with pytest.raises(TranscodingNotRegisteredError, match="no_such_type"):
        OURS.decode(stored)
    with pytest.raises(TranscodingNotRegisteredError, match="no_such_type"):
        LIBRARY.decode(stored)


def test_two_keys_that_are_not_a_transcoding_stay_a_dict() -> None:
    state = {"a": {"_type_": 1, "other": 2}, "b": [{"_data_": UUID(int=7), "x": Decimal("1.5")}]}

    assert OURS.decode(LIBRARY.encode(state)) == state


def test_small_states_stay_json_and_large_ones_are_compressed() -> None:
    compressor = LargeStatesCompressed()
    small = LIBRARY.encode({"note": "x" * 100})
    large = LIBRARY.encode({"note": "x" * LARGE})

    assert compressor.compress(small) == small
    assert len(compressor.compress(large)) < len(large) / 4
    assert compressor.decompress(compressor.compress(small)) == small
    assert compressor.decompress(compressor.compress(large)) == large


@pytest.mark.parametrize("size", [10, 300, 5000])
def test_states_every_earlier_version_compressed_stay_readable(size: int) -> None:
    state = LIBRARY.encode({"note": "y" * size, "at": datetime(2025, 1, 1, tzinfo=UTC)})
    for written in (
        ZlibCompressor().compress(state),
        zlib.compress(state, 1),
        zlib.compress(state, 9),
    ):
        assert LargeStatesCompressed().decompress(written) == state


def _constructed_and_revived(value: Any) -> tuple[Any, Any]:
    """The value as its constructor makes it from its stored fields, and as reading revives it."""
    stored = OURS.decode(OURS.encode({"v": value}))["v"]
    fields = {name: getattr(stored, name) for name in vars(stored)}
    return type(value)(**fields), stored


@given(
    st.one_of(
        money,
        st.builds(Location, st.integers(-90, 90), st.integers(-180, 180)),
        st.builds(Location, st.floats(-90, 90), st.floats(-180, 180)),
        st.builds(Cause, st.text(min_size=1, max_size=10), st.sampled_from(list(Role)), st.text()),
        st.builds(
            OrderLine, st.uuids(), st.text(min_size=1, max_size=10), money, st.integers(1, 9)
        ),
    )
)
def test_a_value_revived_without_its_constructor_is_the_constructed_value(value: Any) -> None:
    constructed, revived = _constructed_and_revived(value)

    assert type(revived) is type(value)
    assert revived == constructed == value
    assert {k: type(v) for k, v in vars(revived).items()} == {
        k: type(v) for k, v in vars(constructed).items()
    }  # the role a Role, the coordinates floats, as __post_init__ makes them


def test_a_stored_role_and_whole_coordinates_revive_as_the_constructor_makes_them() -> None:
    stored = (
        b'{"c":{"_type_":"Cause","_data_":{"actor_id":"a","role":"courier","correlation_id":"x"}},'
        b'"at":{"_type_":"Location","_data_":{"lat":12,"lng":77}}}'
    )

    read = OURS.decode(stored)

    assert read["c"].role is Role.COURIER
    assert type(read["at"].lat) is float
    assert read["at"] == Location(12.0, 77.0)


def test_a_value_stored_without_a_defaulted_field_gets_its_default() -> None:
    stored = b'{"m":{"_type_":"Money","_data_":{"minor":250}}}'

    assert OURS.decode(stored)["m"] == Money(250)


@given(st.uuids())
def test_uuids_read_back_as_uuid_reads_them(uuid: UUID) -> None:
    stored = LIBRARY.encode({"id": uuid})

    read = OURS.decode(stored)["id"]

    assert (read, read.int, read.is_safe) == (uuid, uuid.int, uuid.is_safe)
    assert (hash(read), str(read)) == (hash(uuid), str(uuid))


@pytest.mark.parametrize("text", ["0x" + "a" * 30, "g" * 32, "1234", str(UUID(int=5))])
def test_text_that_is_not_32_hex_digits_reads_as_uuid_reads_it(text: str) -> None:
    stored = b'{"id":{"_type_":"uuid_hex","_data_":"%s"}}' % text.encode()
    try:
        expected: Any = UUID(text)
    except ValueError as error:
        expected = error

    if isinstance(expected, UUID):
        assert OURS.decode(stored)["id"] == expected
    else:
        with pytest.raises(ValueError, match=re.escape(str(expected))):
            OURS.decode(stored)
