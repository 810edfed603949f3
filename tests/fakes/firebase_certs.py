"""A stand-in for Google's securetoken certificate endpoint: a real HTTP server on 127.0.0.1
serving ``{kid: PEM certificate}`` JSON with ``Cache-Control: public, max-age=N``, whose keys
can be rotated and whose fetches are counted; and minting of Firebase-shaped ID tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes.local_http import QuietHandler, local_server

DROP = object()  # a claim given this value is left out of the token


@dataclass(frozen=True)
class SigningKey:
    """An RSA 2048 key with its self-signed X.509 certificate, published under ``kid``."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=7))
            .sign(key, hashes.SHA256())
        )
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        return cls(kid or uuid.uuid4().hex, key, pem)

    @property
    def public_key_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class FakeFirebaseCerts:
    """The certificate endpoint of one Firebase project. ``fetches`` counts GETs answered."""

    project_id: str = "tiffin-test"
    max_age: int = 3600
    published: list[SigningKey] = field(default_factory=list)
    fail_with: int | None = None  # answer every GET with this status instead
    fetches: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.published:
            self.published.append(SigningKey.generate())

    @property
    def key(self) -> SigningKey:
        """The key new tokens are signed with: the last one published."""
        return self.published[-1]

    def rotate(self, keep_old: bool = False) -> SigningKey:
        """Publishes a new key (and retires the others unless ``keep_old``)."""
        new = SigningKey.generate()
        self.published = [*self.published, new] if keep_old else [new]
        return new

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.fetches += 1
        if self.fail_with is not None:
            return self.fail_with, {}, b'{"error": "unavailable"}'
        body = json.dumps({k.kid: k.certificate_pem for k in self.published}).encode()
        return 200, {"Cache-Control": f"public, max-age={self.max_age}"}, body

    def claims(self, now: float, **overrides: Any) -> dict[str, Any]:
        """Claims shaped like a Firebase ID token of a user who signed in 5 minutes ago with a
        verified email address; ``overrides`` replace claims, ``DROP`` removes one."""
        uid = "u" + uuid.uuid4().hex[:20]
        claims: dict[str, Any] = {
            "iss": f"https://securetoken.google.com/{self.project_id}",
            "aud": self.project_id,
            "auth_time": int(now) - 300,
            "user_id": uid,
            "sub": uid,
            "iat": int(now) - 300,
            "exp": int(now) + 3300,
            "email": f"{uid}@example.com",
            "email_verified": True,
            "firebase": {
                "identities": {"email": [f"{uid}@example.com"]},
                "sign_in_provider": "password",
            },
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def mint(self, claims: dict[str, Any], key: SigningKey | None = None, **header: Any) -> str:
        """An RS256 token of ``claims`` signed with ``key`` (the current one by default), with
        ``kid`` in its header (``header`` adds or replaces header fields; ``kid=None`` drops
        it)."""
        key = key or self.key
        headers = {"kid": key.kid, **header}
        if headers["kid"] is None:
            del headers["kid"]
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """``alg: none``: no signature at all."""
    return jwt.encode(claims, "", algorithm="none", headers={"kid": kid})


def hs256_with_public_key(claims: dict[str, Any], key: SigningKey) -> str:
    """The algorithm-confusion attack: HS256 with the (public) certificate's key PEM as the
    HMAC secret. Made by hand, since PyJWT refuses a PEM key as an HMAC secret."""

    def segment(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signed = segment({"alg": "HS256", "typ": "JWT", "kid": key.kid}) + b"." + segment(claims)
    mac = hmac.new(key.public_key_pem, signed, hashlib.sha256).digest()
    return (signed + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


def tampered(token: str) -> str:
    """The token with one byte in the middle of its signature flipped."""
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


@contextmanager
def serving(certs: FakeFirebaseCerts) -> Iterator[FakeFirebaseCerts]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server calls it so)
            status, headers, body = certs.answer()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    with local_server(Handler) as url:
        certs.url = f"{url}/robot/v1/metadata/x509/securetoken"
        yield certs
