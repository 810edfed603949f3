"""``tiffin keys rotate``: a new key for the stored events, the older ones kept to read."""

from __future__ import annotations

import argparse
from typing import Any

from application.settings import load_settings
from wiring.keys import add_event_key


def rotate(_: argparse.Namespace) -> int:
    settings = load_settings()
    rotated = add_event_key(settings)
    if rotated.written_to is None:
        print(
            "TIFFIN_EVENT_CIPHER_KEY is configured, so the keyring is yours to keep: set it to\n"
            f"  {rotated.value}\n"
            "on every process (the new key first; the older ones after it read older events),"
            " then restart them."
        )
    else:
        print(
            f"added a key to {rotated.written_to}: {rotated.count} key(s), new events are "
            "written with the new one once the platform restarts, older events stay readable"
        )
    return 0


def add_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the keys stored events are encrypted with")
    actions = keys.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "rotate",
        help="add a new key: new events are written with it, older ones stay readable",
        description="Adds an AES-256 key at the front of the keyring. On the embedded default "
        "the keyring is the data directory's event-cipher.keys (0600); with "
        "TIFFIN_EVENT_CIPHER_KEY set it prints the value to set instead.",
    )
    run.set_defaults(run=rotate)
