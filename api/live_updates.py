"""Following an order live: the order tracking view's messages on the order's channel.

Redis pub/sub in server mode (any worker process may publish); on the embedded default the
in-process views call back, and the messages are handed to the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis as AsyncRedis


class Subscription(Protocol):
    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None if none came within ``timeout`` seconds."""
        ...


class OrderChannels(Protocol):
    def subscribe(self, channel: str) -> Any:
        """An async context manager yielding a ``Subscription`` to the channel."""
        ...


class _Queued:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class InProcessChannels:
    """The embedded default: ``follow`` is MemoryViews.follow (called from worker threads)."""

    def __init__(self, follow: Callable[[Callable[[str, str], None]], Callable[[], None]]) -> None:
        self._follow = follow

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_Queued]:
        loop = asyncio.get_running_loop()
        subscription = _Queued()

        def heard(name: str, message: str) -> None:
            if name == channel:
                loop.call_soon_threadsafe(subscription.queue.put_nowait, json.loads(message))

        stop = self._follow(heard)
        try:
            yield subscription
        finally:
            stop()


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    async def next(self, timeout: float) -> dict[str, Any] | None:
        message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        if message is None:
            return None
        data = message["data"]
        result: dict[str, Any] = json.loads(data)
        return result


class RedisChannels:
    """Server mode: one pub/sub connection per follower, closed when they go."""

    def __init__(self, url: str) -> None:
        self.client = AsyncRedis.from_url(url)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_RedisSubscription]:
        pubsub = self.client.pubsub()
        await pubsub.subscribe(channel)
        try:
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self.client.aclose()
