"""The data directory is the platform's alone: the directory 0700, its database files 0600.

SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own mode, so
creating (or narrowing) the database file before SQLite opens it is enough; files that older
releases left 0644 are narrowed when they are next opened.
"""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """Creates the directory (and its parents) if need be, and makes it 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_database(path: Path) -> Path:
    """The SQLite file at ``path``, in a private directory, created 0600 if it is new; it and
    its companions (WAL, shared memory, journal) narrowed to 0600 if they exist."""
    private_directory(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(0o600)
    return path
