"""The machine's real Redis, with a key prefix of its own per test (deleted afterwards)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

from redis import Redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def scratch_prefix() -> Iterator[str]:
    """A fresh key prefix; every key under it is deleted afterwards. No server: a failure."""
    prefix = f"tiffin-test-{uuid4().hex[:12]}:"
    client = Redis.from_url(REDIS_URL)
    client.ping()
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.unlink(*keys)
        client.close()
