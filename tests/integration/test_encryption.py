"""Events at rest: compressed always, encrypted when TIFFIN_EVENT_CIPHER_KEY is set."""

from __future__ import annotations

import base64
import os
import zlib
from pathlib import Path

import pytest

from application.settings import load_settings
from domain.values import Role
from tests.scenario import HOME, cause, open_kitchen, place
from wiring.bootstrap import bootstrap

SECRETS = (HOME.line1.encode(), HOME.phone.encode())


def stored_order_bytes(environ: dict[str, str]) -> tuple[bytes, object]:
    with bootstrap(load_settings(environ)) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        (stored,) = tiffin.ordering.recorder.select_events(order.id)
        return stored.state, tiffin.ordering.get_order(order.id).delivery_address


@pytest.fixture(params=["sqlite", "postgres"])
def environ(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}
    if request.param == "postgres":
        env["TIFFIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return env


def test_with_a_cipher_key_no_address_or_phone_is_stored_in_plaintext(
    environ: dict[str, str],
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()

    state, address = stored_order_bytes({**environ, "TIFFIN_EVENT_CIPHER_KEY": key})

    assert address == HOME
    for secret in SECRETS:
        assert secret not in state
    with pytest.raises(zlib.error):
        zlib.decompress(state)


def test_without_a_cipher_key_events_are_only_compressed(environ: dict[str, str]) -> None:
    state, address = stored_order_bytes(environ)

    assert address == HOME
    plain = zlib.decompress(state)
    for secret in SECRETS:
        assert secret not in state
        assert secret in plain


def test_events_written_with_one_key_cannot_be_read_with_another(tmp_path: Path) -> None:
    first = base64.b64encode(os.urandom(32)).decode()
    second = base64.b64encode(os.urandom(32)).decode()
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}
    with bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": first})) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))

    with (
        bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": second})) as tiffin,
        pytest.raises(Exception, match=r"(?i)tag|decrypt|authentic"),
    ):
        tiffin.ordering.get_order(order.id)
