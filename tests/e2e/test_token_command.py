"""``tiffin token``, installed and run as a user would run it."""

from __future__ import annotations

from pathlib import Path

from adapters.platform_tokens import PlatformTokens
from application.identity import TOKEN_ROLES
from domain.values import Role
from tests.e2e.test_cli import run_tiffin


def test_token_prints_only_a_platform_token_signed_with_the_data_dir_secret(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"

    result = run_tiffin(
        "token", "--sub", "alice", "--role", "customer", env={"TIFFIN_DATA_DIR": str(data_dir)}
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1
    secret = (data_dir / "jwt.secret").read_bytes().strip()
    identity = PlatformTokens(secret).verify(result.stdout.strip())
    assert (identity.subject, identity.role, identity.token_kind) == (
        "alice",
        Role.CUSTOMER,
        "platform",
    )
    assert identity.claims["exp"] - identity.claims["iat"] == 3600


def test_token_signs_with_the_configured_secret_for_the_ttl_asked(tmp_path: Path) -> None:
    secret = "configured-secret-at-least-32-bytes-long"
    env = {"TIFFIN_DATA_DIR": str(tmp_path / "var"), "TIFFIN_JWT_SECRET": secret}

    result = run_tiffin("token", "--sub", "ops", "--role", "auditor", "--ttl", "120", env=env)

    assert result.returncode == 0, result.stderr
    identity = PlatformTokens(secret.encode()).verify(result.stdout.strip())
    assert (identity.subject, identity.role) == ("ops", Role.AUDITOR)
    assert identity.claims["exp"] - identity.claims["iat"] == 120
    assert not (tmp_path / "var" / "jwt.secret").exists()


def test_token_refuses_a_role_it_does_not_grant_and_names_the_roles(tmp_path: Path) -> None:
    result = run_tiffin(
        "token", "--sub", "alice", "--role", "system", env={"TIFFIN_DATA_DIR": str(tmp_path)}
    )

    assert result.returncode != 0
    assert result.stdout == ""
    assert "--role" in result.stderr
    assert all(f"'{role}'" in result.stderr for role in TOKEN_ROLES)
    assert "Traceback" not in result.stderr


def test_token_refuses_a_configured_secret_too_short_for_hs256(tmp_path: Path) -> None:
    env = {"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_JWT_SECRET": "short"}

    result = run_tiffin("token", "--sub", "alice", "--role", "admin", env=env)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "TIFFIN_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
