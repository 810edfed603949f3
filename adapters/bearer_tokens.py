"""The API's token verifier: platform tokens, and Firebase ID tokens when Firebase is on.

A token is routed by its (unverified) issuer only to pick the verifier; the chosen verifier
then checks everything, signature included, so a forged ``iss`` gains nothing.
"""

from __future__ import annotations

import jwt

from adapters.firebase_tokens import ISSUER_PREFIX
from application.identity import Identity, TokenVerifier


class BearerTokens:
    def __init__(self, platform: TokenVerifier, firebase: TokenVerifier | None) -> None:
        self.platform = platform
        self.firebase = firebase

    def verify(self, token: str) -> Identity:
        """May block (a Firebase certificate fetch): call it off the event loop, unless
        ``needs_thread(token)`` says it will not."""
        if self.firebase is not None and self._is_firebase(token):
            return self.firebase.verify(token)
        return self.platform.verify(token)

    def needs_thread(self, token: str) -> bool:
        """Whether verifying may block: only Firebase tokens (certificate fetches) do."""
        return self.firebase is not None and self._is_firebase(token)

    @staticmethod
    def _is_firebase(token: str) -> bool:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return False  # the platform verifier says why it is malformed
        return isinstance(issuer, str) and issuer.startswith(ISSUER_PREFIX)
