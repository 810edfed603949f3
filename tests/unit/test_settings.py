"""Configuration: sane defaults, and a bad value fails at start naming its variable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.event_keys import event_keys
from adapters.event_store import event_store_env
from adapters.http_gateway import HttpUpiGateway
from adapters.simulated_gateway import SimulatedUpiGateway
from application.settings import ConfigurationError, Settings, load_settings
from wiring.bootstrap import bootstrap


def test_no_configuration_is_the_embedded_default() -> None:
    settings = load_settings({})

    assert settings.embedded
    assert settings.data_dir == Path("./var")
    assert (settings.host, settings.port) == ("127.0.0.1", 8443)
    assert settings.payment_gateway == "simulated"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIFFIN_PORT", "eighty"),
        ("TIFFIN_PORT", "70000"),
        ("TIFFIN_DATABASE_URL", "mysql://db/tiffin"),
        ("TIFFIN_REDIS_URL", "http://localhost"),
        ("TIFFIN_EVENT_CIPHER_KEY", "not base64!"),
        ("TIFFIN_EVENT_CIPHER_KEY", base64.b64encode(b"short").decode()),
        ("TIFFIN_PAYMENT_GATEWAY", "paypal"),
        ("TIFFIN_PAYMENT_EXPIRY_SECONDS", "0"),
        ("TIFFIN_MERCHANT_VPA", "no-at-sign"),
        ("TIFFIN_DATABSE_URL", "postgresql://typo"),
    ],
)
def test_a_malformed_or_unknown_variable_is_named_in_the_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        load_settings({variable: value})


def test_tls_certificate_and_key_come_together() -> None:
    with pytest.raises(ConfigurationError, match="TIFFIN_TLS_KEY"):
        load_settings({"TIFFIN_TLS_CERT": "cert.pem"})


def test_an_empty_variable_counts_as_unset() -> None:
    assert load_settings({"TIFFIN_DATABASE_URL": ""}).embedded


def test_each_embedded_application_gets_its_own_sqlite_file(tmp_path: Path) -> None:
    settings = load_settings({"TIFFIN_DATA_DIR": str(tmp_path)})

    ordering = event_store_env(settings, "Ordering", event_keys(settings))
    payments = event_store_env(settings, "Payments", event_keys(settings))

    assert ordering["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert ordering["SQLITE_DBNAME"] != payments["SQLITE_DBNAME"]
    assert ordering["COMPRESSOR_TOPIC"].endswith("LargeStatesCompressed")
    assert ordering["CIPHER_TOPIC"].endswith("KeyringCipher"), "encrypted by default"


def test_a_database_url_selects_postgresql_with_its_parts() -> None:
    settings = load_settings(
        {"TIFFIN_DATABASE_URL": "postgresql://tiffin:s3cret@db.internal:6543/orders"}
    )

    env = event_store_env(settings, "Ordering", event_keys(settings))

    assert env["PERSISTENCE_MODULE"] == "adapters.group_commit:GroupCommitFactory"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.internal", "6543")
    assert (env["POSTGRES_DBNAME"], env["POSTGRES_USER"]) == ("orders", "tiffin")
    assert env["POSTGRES_PASSWORD"] == "s3cret"


def test_the_settings_choose_the_payment_gateway(tmp_path: Path) -> None:
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}

    with bootstrap(load_settings(env)) as simulated:
        gateway = simulated.gateway().gateway
        assert isinstance(gateway, SimulatedUpiGateway)
        assert gateway.delay_seconds == 2
    http = {
        **env,
        "TIFFIN_PAYMENT_GATEWAY": "http",
        "TIFFIN_PAYMENT_GATEWAY_URL": "https://gateway.example/api",
        "TIFFIN_PAYMENT_GATEWAY_KEY": "k",
    }
    with bootstrap(load_settings(http)) as real:
        gateway = real.gateway().gateway
        assert isinstance(gateway, HttpUpiGateway)
        assert (gateway.base_url, gateway.api_key) == ("https://gateway.example/api", "k")


def test_http_gateway_without_a_url_is_refused_at_start() -> None:
    with pytest.raises(ConfigurationError, match="TIFFIN_PAYMENT_GATEWAY_URL"):
        load_settings({"TIFFIN_PAYMENT_GATEWAY": "http"})


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"TIFFIN_{name.upper()}"
        for name in Settings.model_fields
        if f"`TIFFIN_{name.upper()}`" not in table
    ]
    assert missing == []
