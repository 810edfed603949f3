"""The identity port: who a bearer token says the caller is, once the token is verified.

Two verifiers implement it (see README: Tokens): ``adapters.firebase_tokens.FirebaseTokens``
(Firebase ID tokens, RS256) and ``adapters.platform_tokens.PlatformTokens`` (tokens minted by
``tiffin token``, HS256). Both raise ``InvalidToken`` for anything they do not accept; its message
is a fixed phrase (never text taken from the token), so the API may show it to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from domain.values import Role

TokenKind = Literal["firebase", "platform"]

# The roles a token may carry: every role but ``system``, which is the platform itself (sagas,
# deadlines, webhooks) and is never granted to a caller.
TOKEN_ROLES: tuple[Role, ...] = (
    Role.CUSTOMER,
    Role.RESTAURANT,
    Role.COURIER,
    Role.ADMIN,
    Role.ANALYST,
    Role.AUDITOR,
)
MAX_SUBJECT_LENGTH = 128  # Firebase uids are at most 128 characters; platform subjects too


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired, or its claims are not acceptable.
    The message says which, in words safe to show to the client (the API answers 401)."""


class TokenVerifierUnavailable(Exception):
    """The token could not be checked for want of the signing keys (the certificate endpoint
    cannot be reached and nothing is cached): not the caller's fault (the API answers 503)."""


@dataclass(frozen=True)
class Identity:
    """A verified caller: ``subject`` is the token's ``sub`` (Firebase uid or the platform
    token's subject), ``claims`` every claim of the verified token (read-only)."""

    subject: str
    role: Role
    token_kind: TokenKind
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)


class TokenVerifier(Protocol):
    """Verifies a bearer token. May block (a verifier may fetch keys): call it off the event
    loop."""

    def verify(self, token: str) -> Identity: ...


class BearerVerifier(TokenVerifier, Protocol):
    """A verifier that can tell, before verifying, whether verifying a token may block."""

    def needs_thread(self, token: str) -> bool: ...


def token_role(value: object) -> Role:
    """The role a token's ``role`` claim names; InvalidToken unless it is one of TOKEN_ROLES."""
    if isinstance(value, str):
        for role in TOKEN_ROLES:
            if value == role.value:
                return role
    raise InvalidToken(f"role claim must be one of {', '.join(TOKEN_ROLES)}")


def token_subject(value: object) -> str:
    """The token's ``sub``: a non-blank string of at most MAX_SUBJECT_LENGTH characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidToken("sub claim must be a non-empty string")
    if len(value) > MAX_SUBJECT_LENGTH:
        raise InvalidToken(f"sub claim must be at most {MAX_SUBJECT_LENGTH} characters")
    return value
