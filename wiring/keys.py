"""Adding a key to the stored events' keyring (part of the composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.event_keys import KEYS_FILE, add_key, configured_keys, new_key
from application.settings import Settings


@dataclass(frozen=True)
class Rotated:
    value: str  # the whole keyring, newest first, comma-separated
    count: int
    written_to: Path | None  # None: the keys are configured, the operator sets them


def add_event_key(settings: Settings) -> Rotated:
    configured = configured_keys(settings)
    if configured or not settings.embedded:  # server mode keeps no keyring of its own
        keys = [new_key(), *configured]
        return Rotated(",".join(keys), len(keys), None)
    keys = add_key(settings.data_dir)
    return Rotated(",".join(keys), len(keys), settings.data_dir / KEYS_FILE)
