"""Firebase ID tokens: RS256 JWTs signed by one of the keys published at the certificate URL.

A token is accepted when (API.md, Authentication and roles):

- its header has ``alg`` = RS256 and a ``kid`` that names a certificate in the current set;
- its signature verifies (``google.oauth2.id_token.verify_token``, which also checks ``aud`` and,
  against the system clock, ``iat`` and ``exp``);
- ``aud`` is the project id, ``iss`` is ``https://securetoken.google.com/<project id>``, ``sub``
  is a non-empty string (at most 128 characters);
- against the injected clock: ``exp`` is after now, ``iat`` and ``auth_time`` are at most
  ``CLOCK_SKEW_SECONDS`` (60 s) ahead of now (the issuer's clock may run a little ahead of ours);
- the custom claim ``role``, if present, is one of the six token roles; **a token without it is a
  customer's** (a plain Firebase sign-up carries no custom claims; staff roles are granted by
  setting the claim with the Admin SDK);
- a customer has ``email_verified: true`` or a ``phone_number`` claim.

Certificates are cached (``CertificateCache``) for the ``Cache-Control: max-age`` the endpoint
answers with. A token naming a key the cache does not hold causes a refresh, but fetches are at
least ``MIN_REFRESH_SECONDS`` apart whatever the tokens say, so a key Google rotated in is
accepted from the next refresh on and a stream of made-up key ids cannot make us fetch per
request. A refresh that fails keeps the certificates already held (logged); with none held the
verifier raises ``TokenVerifierUnavailable``.

Verification is synchronous and may make an HTTP request (up to ``FETCH_TIMEOUT_SECONDS``):
the API calls ``verify`` in a worker thread, never on the event loop. It is thread-safe.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt
from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import id_token

from application.identity import (
    Identity,
    InvalidToken,
    TokenVerifierUnavailable,
    token_role,
    token_subject,
)
from domain.values import Role

ALGORITHM = "RS256"
ISSUER_PREFIX = "https://securetoken.google.com/"
CLOCK_SKEW_SECONDS = 60
MIN_REFRESH_SECONDS = 60.0
# A failed refresh keeps the certificates held, for at most this long past their max-age: long
# enough to ride out an outage of the endpoint, short enough that a key Google has withdrawn
# stops being accepted; after that, tokens cannot be checked (503), rather than trusted on keys
# no longer known to be current.
MAX_STALE_SECONDS = 6 * 3600
FETCH_TIMEOUT_SECONDS = 10.0
MAX_TOKEN_LENGTH = 8192

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CertificateSet:
    """One answer of the certificate endpoint: its body (``{kid: PEM certificate}`` JSON), the
    key ids in it, and until when it may be used without asking again."""

    body: bytes
    key_ids: frozenset[str]
    expires_at: float


class CertificateCache:
    """The certificate set, fetched through ``fetch`` (a google-auth ``Request``) only when the
    cached one is stale or lacks a key id asked for, and never twice within ``min_refresh``
    seconds."""

    def __init__(
        self,
        url: str,
        fetch: transport.Request,
        clock: Callable[[], float],
        min_refresh: float = MIN_REFRESH_SECONDS,
        max_stale: float = MAX_STALE_SECONDS,
    ) -> None:
        self.url = url
        self._max_stale = max_stale
        self._fetch = fetch
        self._clock = clock
        self._min_refresh = min_refresh
        self._lock = threading.Lock()
        self._current: CertificateSet | None = None
        self._last_fetch: float | None = None

    def holding(self, key_id: str) -> CertificateSet:
        """A certificate set holding ``key_id``, refreshed first if need be and allowed.
        InvalidToken if no set we may use holds it; TokenVerifierUnavailable if we have none."""
        # Fresh and holding the key (the usual case): no lock, so that a slow fetch holds up only
        # the verifications that need its answer.
        current = self._current
        now = self._clock()
        if current and key_id in current.key_ids and now < current.expires_at:
            return current
        with self._lock:
            now = self._clock()
            current = self._current
            wanted = current is None or now >= current.expires_at or key_id not in current.key_ids
            if wanted and self._may_fetch(now):
                self._refresh(now)
            current = self._current
        if current is None or now >= current.expires_at + self._max_stale:
            raise TokenVerifierUnavailable("the token signing keys are unavailable; try again")
        if key_id not in current.key_ids:
            raise InvalidToken("token signed with an unknown key")
        return current

    def _may_fetch(self, now: float) -> bool:
        last = self._last_fetch
        return last is None or now >= last + self._min_refresh or now < last  # clock set back

    def _refresh(self, now: float) -> None:
        self._last_fetch = now
        try:
            response = self._fetch(self.url, method="GET", timeout=FETCH_TIMEOUT_SECONDS)
            if response.status != 200:
                raise ValueError(f"HTTP status {response.status}")
            body = bytes(response.data)
            certificates = json.loads(body)
            if not isinstance(certificates, dict) or not all(
                isinstance(kid, str) and isinstance(pem, str) for kid, pem in certificates.items()
            ):
                raise ValueError("the answer is not a {key id: PEM certificate} object")
            max_age = _max_age(response.headers)
        except Exception as error:  # whatever went wrong, keep what we have and say so
            held = "keeping the certificates held" if self._current else "no certificates held"
            log.warning("fetching %s failed (%s); %s", self.url, error, held)
            return
        self._current = CertificateSet(body, frozenset(certificates), now + max_age)


def _max_age(headers: Mapping[str, str]) -> float:
    """Seconds a response may be cached for, from its Cache-Control header (0 if none)."""
    for name, value in headers.items():
        if name.lower() != "cache-control":
            continue
        directives = [d.strip().lower() for d in value.split(",")]
        if "no-store" in directives or "no-cache" in directives:
            return 0.0
        for directive in directives:
            key, _, seconds = directive.partition("=")
            if key.strip() == "max-age" and seconds.strip().isdigit():
                return float(seconds.strip())
    return 0.0


class _Response(transport.Response):
    def __init__(self, body: bytes) -> None:
        self._body = body

    @property
    def status(self) -> int:
        return 200

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Content-Type": "application/json"}

    @property
    def data(self) -> bytes:
        return self._body


class _Held(transport.Request):
    """What ``verify_token`` fetches the certificates through: the set already chosen for this
    token, so one verification sees one set and never goes to the network itself."""

    def __init__(self, url: str, certificates: CertificateSet) -> None:
        self._url = url
        self._certificates = certificates

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        if url != self._url or method != "GET":
            raise RuntimeError(f"unexpected request {method} {url}")  # a bug, not a bad token
        return _Response(self._certificates.body)


class FirebaseTokens:
    """Verifies Firebase ID tokens for ``project_id`` (see the module docstring for the rules).
    ``clock`` returns Unix seconds; ``fetch`` is the google-auth transport the certificates are
    fetched with (by default ``google.auth.transport.requests.Request()``)."""

    def __init__(
        self,
        project_id: str,
        certs_url: str,
        clock: Callable[[], float] = time.time,
        fetch: transport.Request | None = None,
        min_refresh: float = MIN_REFRESH_SECONDS,
        max_stale: float = MAX_STALE_SECONDS,
    ) -> None:
        if not project_id:
            raise ValueError("a Firebase project id is needed")
        if fetch is None:
            from google.auth.transport.requests import Request

            fetch = Request()
        self.project_id = project_id
        self.issuer = ISSUER_PREFIX + project_id
        self.certificates = CertificateCache(certs_url, fetch, clock, min_refresh, max_stale)
        self._clock = clock

    def verify(self, token: str) -> Identity:
        """The identity the token carries; InvalidToken, saying why, if it is not acceptable.
        Blocks while the certificates are fetched, when they are: call it off the event loop."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"token must be signed with {ALGORITHM}")
        key_id = header.get("kid")
        if not isinstance(key_id, str) or not key_id:
            raise InvalidToken("token has no kid header")
        # The claims are checked before the signature too, only so that a token that would be
        # refused anyway never causes a certificate fetch; the identity comes from the verified
        # claims below.
        self._identity(unverified)
        certificates = self.certificates.holding(key_id)
        try:
            verified = id_token.verify_token(
                token,
                _Held(self.certificates.url, certificates),
                audience=self.project_id,
                certs_url=self.certificates.url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except (google_exceptions.GoogleAuthError, ValueError, TypeError, jwt.PyJWTError):
            raise InvalidToken("bad signature") from None
        return self._identity(dict(verified))

    def _identity(self, claims: dict[str, Any]) -> Identity:
        if claims.get("aud") != self.project_id:
            raise InvalidToken("aud claim must be the Firebase project id")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("iss claim must be the project's securetoken issuer")
        subject = token_subject(claims.get("sub"))
        times = {name: _seconds(claims, name) for name in ("exp", "iat", "auth_time")}
        now = self._clock()
        if times["exp"] <= now:
            raise InvalidToken("token expired")
        if times["iat"] > now + CLOCK_SKEW_SECONDS:
            raise InvalidToken("token issued in the future")
        if times["auth_time"] > now + CLOCK_SKEW_SECONDS:
            raise InvalidToken("auth_time claim is in the future")
        role = token_role(claims["role"]) if "role" in claims else Role.CUSTOMER
        if role is Role.CUSTOMER and not _verified_contact(claims):
            raise InvalidToken("a customer needs a verified email address or a phone number")
        return Identity(subject, role, "firebase", MappingProxyType(claims))


def _seconds(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise InvalidToken(f"token has no {name} claim")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"{name} claim must be a number")
    return float(value)


def _verified_contact(claims: Mapping[str, Any]) -> bool:
    phone = claims.get("phone_number")
    return claims.get("email_verified") is True or (isinstance(phone, str) and bool(phone.strip()))
