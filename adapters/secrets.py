"""Secrets that are configured, or else generated once into the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from adapters.private_files import private_directory


def configured_or_generated(value: SecretStr | None, data_dir: Path, name: str) -> bytes:
    """The configured secret; otherwise ``<data dir>/<name>.secret``, created (mode 0600) with
    a random value the first time and read back ever after, so restarts keep the same secret."""
    if value is not None:
        return value.get_secret_value().encode()
    path = private_directory(data_dir) / f"{name}.secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()
