"""``tiffin token``: mints a platform token and prints it, and nothing else."""

from __future__ import annotations

import argparse
from typing import Any

from application.identity import MAX_SUBJECT_LENGTH, TOKEN_ROLES
from application.settings import load_settings
from domain.values import Role
from wiring.tokens import platform_tokens

MAX_TTL_SECONDS = 30 * 24 * 3600


def mint_token(args: argparse.Namespace) -> int:
    tokens = platform_tokens(load_settings())
    print(tokens.issue(args.sub, Role(args.role), ttl_seconds=args.ttl))
    return 0


def _subject(value: str) -> str:
    if not value.strip() or len(value) > MAX_SUBJECT_LENGTH:
        raise argparse.ArgumentTypeError(
            f"must be non-empty and at most {MAX_SUBJECT_LENGTH} characters"
        )
    return value


def _ttl(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of seconds") from None
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TTL_SECONDS} (30 days)")
    return seconds


def add_commands(commands: Any) -> None:
    roles = [str(role) for role in TOKEN_ROLES]
    token = commands.add_parser(
        "token",
        help="print a platform token (HS256, TIFFIN_JWT_SECRET) for the API",
        description="Prints a platform token for SUB in ROLE, and nothing else. It is signed "
        "with TIFFIN_JWT_SECRET, or else with the secret generated into the data directory.",
    )
    token.add_argument("--sub", required=True, type=_subject, help="the subject (user id)")
    token.add_argument("--role", required=True, choices=roles, help="the role it grants")
    token.add_argument(
        "--ttl", type=_ttl, default=3600, metavar="SECONDS", help="lifetime (default 3600)"
    )
    token.set_defaults(run=mint_token)
