"""Events at rest: compressed always; encrypted with TIFFIN_EVENT_CIPHER_KEY's keys, or on the
embedded default with a keyring generated into the data directory; readable after a rotation;
and a data directory written before there were keys keeps working, encrypted forward."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from adapters.keyring_cipher import KeyringPersonal
from application.settings import ConfigurationError, load_settings
from cli.main import main
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


def test_the_embedded_default_encrypts_with_a_keyring_of_its_own(tmp_path: Path) -> None:
    state, address = stored_order_bytes({"TIFFIN_DATA_DIR": str(tmp_path)})

    assert address == HOME
    with pytest.raises(zlib.error):
        zlib.decompress(state)
    for secret in SECRETS:
        assert secret not in state
    keyring = tmp_path / "event-cipher.keys"
    assert oct(keyring.stat().st_mode & 0o777) == "0o600"
    assert len(keyring.read_text().split()) == 1


def test_server_mode_without_a_key_only_compresses_and_warns_loudly(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_DATABASE_URL": postgres_url}

    state, address = stored_order_bytes(environ)

    assert address == HOME
    plain = zlib.decompress(state)
    for secret in SECRETS:
        assert secret in plain
    assert any("EVENTS ARE STORED UNENCRYPTED" in r.getMessage() for r in caplog.records)


def test_after_a_rotation_new_events_use_the_new_key_and_old_ones_stay_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"TIFFIN_DATA_DIR": str(tmp_path)}
    with bootstrap(load_settings(environ)) as tiffin:
        before = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    monkeypatch.setenv("TIFFIN_DATA_DIR", str(tmp_path))

    assert main(["keys", "rotate"]) == 0
    said = capsys.readouterr().out

    assert "2 key(s)" in said
    newest, _older = (tmp_path / "event-cipher.keys").read_text().split()
    with bootstrap(load_settings(environ)) as tiffin:
        after = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        assert tiffin.ordering.get_order(before.id).delivery_address == HOME
        (stored,) = tiffin.ordering.recorder.select_events(after.id)
    only_new = {**environ, "TIFFIN_DATA_DIR": str(tmp_path / "elsewhere")}
    with bootstrap(load_settings({**only_new, "TIFFIN_EVENT_CIPHER_KEY": newest})) as other:
        mapper = other.ordering.mapper
        assert mapper.to_domain_event(stored).delivery_address == HOME, "written with the new key"


def test_the_platform_refuses_to_start_on_events_it_cannot_read(tmp_path: Path) -> None:
    first = base64.b64encode(os.urandom(32)).decode()
    second = base64.b64encode(os.urandom(32)).decode()
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}
    with bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": first})) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))

    with pytest.raises(ConfigurationError, match=r"TIFFIN_EVENT_CIPHER_KEY: the \w+ log's newest"):
        bootstrap(load_settings({**env, "TIFFIN_EVENT_CIPHER_KEY": second}))
    with pytest.raises(ConfigurationError, match="with the data directory's keyring"):
        bootstrap(load_settings(env))  # a keyring of its own, generated: not the key they need
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


def test_views_keep_a_person_under_one_pseudonym_and_their_text_sealed_across_rotations() -> None:
    older, newer = (base64.b64encode(os.urandom(32)).decode() for _ in "ab")
    before, after = KeyringPersonal([older]), KeyringPersonal([newer, older])
    text = "left at the gate, nobody answered"

    assert before.pseudonym("alice") == after.pseudonym("alice"), "stable across a rotation"
    assert before.pseudonym("alice") != before.pseudonym("bob")
    assert before.pseudonym("alice") != KeyringPersonal([newer]).pseudonym("alice"), "keyed"
    assert re.fullmatch(r"p_[0-9a-f]{32}", before.pseudonym("alice"))
    sealed = before.seal(text)
    assert sealed == before.seal(text), "deterministic: a replay writes the same row"
    assert text not in sealed
    assert after.unseal(sealed) == text, "the newer keyring opens what the older sealed"
    assert after.seal(text) != sealed, "new text is sealed with the newest key"
    assert after.unseal("written before views sealed text") == "written before views sealed text"
    with pytest.raises(ValueError, match="no key of the keyring"):
        KeyringPersonal([newer]).unseal(sealed)
