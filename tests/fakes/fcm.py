"""A stand-in for FCM's HTTP v1 API and Google's OAuth2 token endpoint: one real HTTP server on
127.0.0.1 that the real adapter (``adapters.fcm_push``, through google-auth) talks to.

``POST /token`` checks the service account's signed JWT (RS256, issuer, audience, scope) and issues
access tokens that live ``token_lifetime`` seconds. ``POST /v1/projects/{id}/messages:send``
checks the access token and answers as FCM does: scripted failures first, then per-token
refusals (unregistered, invalid), else it delivers. Delivered messages are kept per device the
way a phone shows them: one per collapse key, a repeat replacing the first.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from application.settings import Settings
from tests.fakes.local_http import QuietHandler, local_server

PROJECT = "tiffin-push-test"
CLIENT_EMAIL = f"push@{PROJECT}.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's, whatever the URI
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
Answer = tuple[int, dict[str, Any], dict[str, str]]


def fcm_error(status: int, state: str, message: str, code: str | None = None) -> dict[str, Any]:
    details = [{"@type": FCM_ERROR, "errorCode": code}] if code else []
    error = {"code": status, "message": message, "status": state, "details": details}
    return {"error": error}


BAD_FIELD = {
    "error": {
        "code": 400,
        "message": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "message.data[0].value"}],
            }
        ],
    }
}


@dataclass
class FakeFcm:
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    token_lifetime: int = 3600  # seconds an access token lives
    token_endpoint_down: bool = False
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # next answers
    unregistered: set[str] = field(default_factory=set)  # device tokens FCM no longer knows
    invalid: set[str] = field(default_factory=set)  # device tokens that are not FCM's
    reject_payloads: bool = False  # every message: 400 naming a field of the message
    hold_after: int | None = None  # after delivering this many, hold the next answer
    held: threading.Event = field(default_factory=threading.Event)  # an answer is being held
    release: threading.Event = field(default_factory=threading.Event)
    access_tokens: list[str] = field(default_factory=list)  # issued, in order
    revoked: set[str] = field(default_factory=set)
    sends: list[dict[str, Any]] = field(default_factory=list)  # every send request's message
    delivered: list[dict[str, Any]] = field(default_factory=list)  # every message delivered
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def shown(self, device: str) -> dict[str, dict[str, Any]]:
        """What the device shows: the latest message under each collapse key."""
        with self._lock:
            messages = [m for m in self.delivered if m["token"] == device]
        return {m["android"]["collapse_key"]: m for m in messages}

    def issue(self, form: dict[str, str]) -> Answer:
        if self.token_endpoint_down:
            return 503, {"error": "unavailable"}, {}
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=CLIENT_EMAIL,
            )
        except jwt.InvalidTokenError as error:
            return 400, {"error": "invalid_grant", "error_description": str(error)}, {}
        jwt_bearer = form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        if not jwt_bearer or SCOPE not in claims.get("scope", "").split():
            return 400, {"error": "invalid_scope"}, {}
        with self._lock:
            token = f"ya29.fake-{len(self.access_tokens) + 1}"
            self.access_tokens.append(token)
        return 200, {"access_token": token, "expires_in": self.token_lifetime}, {}

    def send(self, path: str, authorization: str, body: dict[str, Any]) -> Answer:
        assert path == f"/v1/projects/{PROJECT}/messages:send", path
        token = authorization.removeprefix("Bearer ")
        if token not in self.access_tokens or token in self.revoked:
            return 401, fcm_error(401, "UNAUTHENTICATED", "invalid credentials"), {}
        message = body["message"]
        with self._lock:
            self.sends.append(message)
            if self.failures:
                status, headers = self.failures.pop(0)
                return status, fcm_error(status, "UNAVAILABLE", "try later"), headers
        device = message["token"]
        if device in self.unregistered:
            return 404, fcm_error(404, "NOT_FOUND", "not found", "UNREGISTERED"), {}
        if device in self.invalid:
            not_fcm = "The registration token is not a valid FCM registration token"
            return 400, fcm_error(400, "INVALID_ARGUMENT", not_fcm, "INVALID_ARGUMENT"), {}
        if self.reject_payloads:
            return 400, BAD_FIELD, {}
        with self._lock:
            self.delivered.append(message)
            hold = self.hold_after is not None and len(self.delivered) > self.hold_after
        if hold:  # delivered, but the answer waits: a sender killed now never hears of it
            self.held.set()
            self.release.wait(30)
        return 200, {"name": f"projects/{PROJECT}/messages/{len(self.delivered)}"}, {}

    def key_file(self, directory: Path) -> Path:
        """A service account key file for this fake (its ``token_uri`` points here)."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "test-key-1",
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }
        path = directory / "push-service-account.json"
        path.write_text(json.dumps(info))
        return path


@contextmanager
def running(fake: FakeFcm) -> Iterator[FakeFcm]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as FCM's front end

        def do_POST(self) -> None:  # noqa: N802 (http.server calls it so)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/token":
                form = dict(urllib.parse.parse_qsl(raw.decode()))
                self._send(*fake.issue(form))
            else:
                auth = self.headers.get("Authorization", "")
                self._send(*fake.send(self.path, auth, json.loads(raw)))

        def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)  # (its sender may have been killed meanwhile)

    with local_server(Handler) as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()


def pushing_through(settings: Settings, fake: FakeFcm, directory: Path, **more: Any) -> Settings:
    """The settings, with push on: the real FCM adapter pointed at this fake."""
    update = {"push_credentials_file": fake.key_file(directory), "push_fcm_url": fake.url}
    return settings.model_copy(update={**update, **more})


def environ_for(fake: FakeFcm, directory: Path) -> dict[str, str]:
    """The TIFFIN_PUSH_* variables of a process pushing through this fake."""
    return {
        "TIFFIN_PUSH_CREDENTIALS_FILE": str(fake.key_file(directory)),
        "TIFFIN_PUSH_FCM_URL": fake.url,
    }
