"""Platform tokens: HS256 JWTs signed with TIFFIN_JWT_SECRET, minted by ``tiffin token``.

Claims: ``iss`` = ``tiffin``, ``aud`` = ``tiffin-api``, ``sub``, ``role`` (one of the six token
roles), ``iat``, ``exp``. The algorithm is pinned to HS256, so ``alg: none`` and tokens signed
with any other algorithm are refused. Times are checked against the injected clock (not
PyJWT's, which cannot be injected): ``exp`` must be after now, ``iat`` (and ``nbf`` if present)
not more than ``CLOCK_SKEW_SECONDS`` ahead of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jwt
from jwt.exceptions import InvalidSubjectError

from application.identity import Identity, InvalidToken, token_role, token_subject
from domain.values import Role

ALGORITHM = "HS256"
ISSUER = "tiffin"
AUDIENCE = "tiffin-api"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
CLOCK_SKEW_SECONDS = 60
MAX_TOKEN_LENGTH = 8192
REMEMBERED_TOKENS = 4096  # verified tokens kept, so a client's next request skips the HMAC


class PlatformTokens:
    """Issues and verifies platform tokens. ``clock`` returns Unix seconds."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the platform token secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._clock = clock
        self._verified: dict[str, Identity] = {}  # oldest first; only signed, valid tokens

    @property
    def remembered(self) -> int:
        """How many verified tokens are remembered (at most ``REMEMBERED_TOKENS``)."""
        return len(self._verified)

    def issue(self, subject: str, role: Role, ttl_seconds: int = 3600) -> str:
        """A token for ``subject`` in ``role``, valid for ``ttl_seconds`` from now."""
        try:
            token_subject(subject)
            token_role(role)
        except InvalidToken as error:
            raise ValueError(str(error)) from None
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        now = int(self._clock())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "role": str(role),
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Identity:
        """The identity the token carries; InvalidToken, saying why, if it is not acceptable.
        A token verified before is not decoded again, but its times are checked again."""
        known = self._verified.get(token)
        if known is not None:
            self._check_times(known.claims)
            return known
        identity = self._decoded(token)
        if len(self._verified) >= REMEMBERED_TOKENS:
            self._verified.pop(next(iter(self._verified), ""), None)
        self._verified[token] = identity
        return identity

    def _decoded(self, token: str) -> Identity:
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": REQUIRED_CLAIMS,
                    # checked below against the injected clock
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAlgorithmError:
            raise InvalidToken(f"token must be signed with {ALGORITHM}") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad signature") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"token has no {error.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"aud claim must be {AUDIENCE}") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(f"iss claim must be {ISSUER}") from None
        except InvalidSubjectError:
            raise InvalidToken("sub claim must be a non-empty string") from None
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        self._check_times(claims)
        subject, role = token_subject(claims["sub"]), token_role(claims.get("role"))
        return Identity(subject, role, "platform", MappingProxyType(claims))

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise InvalidToken(f"{name} claim must be a number")
        if claims["exp"] <= now:
            raise InvalidToken("token expired")
        if claims["iat"] > now + CLOCK_SKEW_SECONDS:
            raise InvalidToken("token issued in the future")
        if "nbf" in claims and claims["nbf"] > now + CLOCK_SKEW_SECONDS:
            raise InvalidToken("token not valid yet")
