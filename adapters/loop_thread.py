"""An asyncio event loop running in a thread of its own, for adapters whose clients are async
(aiokafka) but whose callers are not (worker components, sync routes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Runs the coroutine on the loop; its result, or error, through the future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    @property
    def closed(self) -> bool:
        return self.loop.is_closed()

    def close(self, join_seconds: float) -> None:
        """Stops the loop and its thread (what still runs on it is dropped)."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=join_seconds)
        self.loop.close()
