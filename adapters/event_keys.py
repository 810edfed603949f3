"""The keys stored events are encrypted with: ``TIFFIN_EVENT_CIPHER_KEY`` (one or more base64
AES keys, comma-separated, newest first), or on the embedded default a keyring generated into
the data directory (``event-cipher.keys``, 0600, one key a line, newest first)."""

from __future__ import annotations

import os
from pathlib import Path

from eventsourcing.cryptography import AESCipher

from adapters.private_files import private_directory
from application.settings import Settings

KEYS_FILE = "event-cipher.keys"
KEY_BYTES = 32  # AES-256


def configured_keys(settings: Settings) -> list[str]:
    if settings.event_cipher_key is None:
        return []
    return [key.strip() for key in settings.event_cipher_key.get_secret_value().split(",")]


def event_keys(settings: Settings) -> list[str]:
    """The keyring, newest first: the configured keys, else (embedded) the data directory's,
    generated the first time; empty in server mode without a configured key."""
    configured = configured_keys(settings)
    if configured or not settings.embedded:
        return configured
    path = settings.data_dir / KEYS_FILE
    if not path.exists():
        _write(path, [AESCipher.create_key(KEY_BYTES)], exclusive=True)
    return _read(path)


def add_key(data_dir: Path) -> list[str]:
    """Puts a new key at the front of the data directory's keyring; the keyring after."""
    path = data_dir / KEYS_FILE
    keys = [AESCipher.create_key(KEY_BYTES), *(_read(path) if path.exists() else [])]
    _write(path, keys, exclusive=False)
    return keys


def new_key() -> str:
    return AESCipher.create_key(KEY_BYTES)


def _read(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, keys: list[str], exclusive: bool) -> None:
    private_directory(path.parent)
    staged = path if exclusive else path.with_name(path.name + ".new")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        descriptor = os.open(staged, flags, 0o600)
    except FileExistsError:
        return  # another process made it first: theirs is the keyring
    with os.fdopen(descriptor, "w") as file:
        file.write("".join(f"{key}\n" for key in keys))
        file.flush()
        os.fsync(file.fileno())
    if staged != path:
        os.replace(staged, path)
