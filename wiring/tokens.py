"""Platform tokens: the secret they are signed with, and the issuer ``tiffin token`` uses."""

from __future__ import annotations

from adapters.platform_tokens import MIN_SECRET_BYTES, PlatformTokens
from adapters.secrets import configured_or_generated
from application.settings import ConfigurationError, Settings

JWT_FILE_STEM = "jwt"  # <data dir>/jwt.secret when TIFFIN_JWT_SECRET is unset


def platform_secret(settings: Settings) -> bytes:
    """TIFFIN_JWT_SECRET, or the secret generated once into the data directory."""
    secret = configured_or_generated(settings.jwt_secret, settings.data_dir, JWT_FILE_STEM)
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"TIFFIN_JWT_SECRET: must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def platform_tokens(settings: Settings) -> PlatformTokens:
    """Issues and verifies platform tokens with the configured (or generated) secret."""
    return PlatformTokens(platform_secret(settings))
