"""Events at rest: compressed always, encrypted when TIFFIN_EVENT_CIPHER_KEY is set."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from application.settings import ConfigurationError, load_settings
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


def test_the_platform_refuses_to_start_on_events_it_cannot_read(tmp_path: Path) -> None:
    first = base64.b64encode(os.urandom(32)).decode()
    second = base64.b64encode(os.urandom(32)).decode()
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}
    with bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": first})) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))

    with pytest.raises(ConfigurationError, match=r"TIFFIN_EVENT_CIPHER_KEY: the \w+ log's newest"):
        bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": second}))
    with pytest.raises(ConfigurationError, match="with no key"):
        bootstrap(load_settings(env))
    with bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": first})) as tiffin:
        assert tiffin.ordering.get_order(order.id).delivery_address == HOME  # the right key


def test_tiffin_commands_started_with_the_wrong_key_say_so_in_one_line(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}
    with bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": key})) as tiffin:
        place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    wrong = base64.b64encode(os.urandom(32)).decode()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIFFIN_")}
    environ = {**clean, **env, "TIFFIN_EVENT_CIPHER_KEY": wrong}

    for command in (["projections", "status"], ["serve"]):
        result = subprocess.run(
            [sys.executable, "-m", "cli", *command],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.splitlines()[-1].startswith(
            "tiffin: configuration error: TIFFIN_EVENT_CIPHER_KEY: "
        ), result.stderr
