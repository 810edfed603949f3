"""Push notifications through FCM's HTTP v1 API, authorised by a service account.

``POST {fcm_url}/v1/projects/{project}/messages:send`` with an OAuth2 access token that
google-auth gets from the service account's key (a signed JWT exchanged at the account's
``token_uri``). The token is kept until shortly before it expires (google-auth's refresh
threshold, 3 min 45 s) and refreshed in the calling thread: the push queue runs in the
worker's runtime thread, never on an event loop. A 401 refreshes it at once and tries again.

How FCM's answers are taken (https://firebase.google.com/docs/cloud-messaging/error-codes):

- ``UNREGISTERED`` (404), ``INVALID_ARGUMENT`` for the token (400 with an FcmError detail) and
  ``SENDER_ID_MISMATCH`` (403): the device is gone (``DeviceGone``);
- 429 and 5xx, time-outs and refused connections: ``PushUnavailable``, with ``Retry-After``;
- any other refusal (a 400 naming a field of the message, ...): ``PushRejected``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from google.auth.credentials import TokenState
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from application.push import DeviceGone, PushMessage, PushRejected, PushUnavailable
from application.settings import ConfigurationError

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TIMEOUT_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 3_600.0
GONE_CODES = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
SETTING = "TIFFIN_PUSH_CREDENTIALS_FILE"


def service_account_info(path: Path, token_url: str | None) -> dict[str, Any]:
    """The service account's key file, checked (ConfigurationError says what is wrong)."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"{SETTING}: cannot read {path.name}: {error}") from None
    needed = ("client_email", "private_key", *(() if token_url else ("token_uri",)))
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigurationError(f"{SETTING}: {path.name} is not a service account key file")
    missing = [name for name in needed if not info.get(name)]
    if missing:
        raise ConfigurationError(f"{SETTING}: {path.name} lacks {', '.join(missing)}")
    return info if token_url is None else {**info, "token_uri": token_url}


class AccessTokens:
    """The service account's access tokens for FCM, one at a time, shared by threads."""

    def __init__(self, info: dict[str, Any], session: requests.Session) -> None:
        try:
            load = service_account.Credentials.from_service_account_info
            self._credentials = load(  # type: ignore[no-untyped-call]
                info, scopes=[SCOPE]
            )
        except (ValueError, GoogleAuthError) as error:
            raise ConfigurationError(f"{SETTING}: the key does not load: {error}") from None
        self._request = Request(session)
        self._lock = threading.Lock()
        self.refreshes = 0

    def token(self, *, renew: bool = False) -> str:
        """A fresh token: the cached one unless it is near its expiry (or ``renew``)."""
        with self._lock:
            credentials = self._credentials
            if renew or credentials.token_state is not TokenState.FRESH:
                try:
                    credentials.refresh(self._request)
                except GoogleAuthError as error:
                    message = f"no access token from the token endpoint: {error}"
                    raise PushUnavailable(message) from error
                self.refreshes += 1
            return str(credentials.token)


def collapse_topic(collapse_key: str) -> str:
    """Web push's ``Topic`` header: at most 32 URL-safe base64 characters."""
    digest = hashlib.sha256(collapse_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]


def fcm_body(message: PushMessage) -> dict[str, Any]:
    return {
        "message": {
            "token": message.token,
            "notification": {"title": message.title, "body": message.body},
            "data": dict(message.data),
            "android": {"collapse_key": message.collapse_key, "priority": "high"},
            "apns": {"headers": {"apns-collapse-id": message.collapse_key}},
            "webpush": {"headers": {"Topic": collapse_topic(message.collapse_key)}},
        }
    }


def retry_after(value: str | None, now: float) -> float:
    """``Retry-After`` in seconds (delay or HTTP date), 0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return 0.0
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


def _error_of(answer: requests.Response) -> tuple[str, str]:
    """FCM's error code (from its FcmError detail, else the status) and message."""
    try:
        error = answer.json().get("error", {})
    except ValueError:
        return "", answer.text[:200]
    details = error.get("details") or []
    codes = [d.get("errorCode") for d in details if d.get("@type") == FCM_ERROR]
    return (codes[0] if codes else "") or "", str(error.get("message", ""))[:200]


class FcmSender:
    def __init__(
        self, project_id: str, info: dict[str, Any], fcm_url: str = "https://fcm.googleapis.com"
    ) -> None:
        self._session = requests.Session()
        self.tokens = AccessTokens(info, self._session)
        self._url = f"{fcm_url.rstrip('/')}/v1/projects/{project_id}/messages:send"

    def close(self) -> None:
        self._session.close()

    def send(self, message: PushMessage) -> None:
        body = fcm_body(message)
        answer = self._post(body, self.tokens.token())
        if answer.status_code == 401:  # revoked or expired early: one more try, renewed
            answer = self._post(body, self.tokens.token(renew=True))
        if answer.status_code == 200:
            return
        code, text = _error_of(answer)
        status = answer.status_code
        if code in GONE_CODES:  # an FcmError detail: about the token, not the message
            raise DeviceGone(f"{status} {code}: {text}")
        if status == 429 or status >= 500 or status in (401, 403):
            wait = retry_after(answer.headers.get("Retry-After"), time.time())
            raise PushUnavailable(f"FCM answered {status} {code}: {text}", wait)
        raise PushRejected(f"{status} {code}: {text}")

    def _post(self, body: dict[str, Any], token: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            return self._session.post(
                self._url, json=body, headers=headers, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            raise PushUnavailable(f"FCM did not answer: {error}") from error
