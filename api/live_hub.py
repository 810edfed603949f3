"""The live fan-out of an API process: the hot views' feed messages (``projections/live_feed``)
reach every subscription to their topic in this process, whatever its connection.

One source per process: in server mode one Redis connection subscribed to the pattern
``<prefix>live:*`` (so any replica serves any subscriber, and a new subscription never waits for
a SUBSCRIBE); on the embedded default the in-process views' callback. A message is handed to
each subscription on the event loop and never awaited: a subscriber that cannot keep up
overflows its own bounded outbox, which closes it, and holds up nobody else.

A subscription starts by reading its topic's feed after the follower's last position (or a
snapshot) while messages arriving meanwhile wait in it; then only messages past the position it
reached are passed on, so the follower sees no gap and no duplicate. When the source loses its
connection, every subscription reads its feed again after its position once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis as AsyncRedis

from projections.live_feed import channel_of, parse_published, position_key

log = logging.getLogger(__name__)
RECONNECT_SECONDS = 0.5
READY_SECONDS = 2.0


@dataclass(frozen=True)
class Outgoing:
    kind: str  # snapshot, update, courier_location, error, ping, pong, ready
    payload: dict[str, Any]


class Outbox:
    """What is on its way to one follower, bounded: an overflow marks it (the connection is
    then closed, with a documented code) instead of waiting for the follower.

    Kept small, since every idle connection holds one: a plain list, and one ``wake``
    callback its connection sets (called on the event loop when a message arrives or the
    connection must end: an overflow, or the server shutting down) instead of a queue and
    an event, each with their waiters' deques."""

    __slots__ = ("__weakref__", "going_away", "items", "limit", "overflowed", "wake")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[Outgoing] = []
        self.overflowed = False
        self.going_away = False
        self.wake: Callable[[], None] | None = None

    @property
    def ending(self) -> bool:
        return self.overflowed or self.going_away

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        if self.overflowed:
            return
        if len(self.items) >= self.limit:
            self.overflowed = True
        else:
            self.items.append(Outgoing(kind, payload))
        self._wake()

    def leave(self) -> None:
        self.going_away = True
        self._wake()

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake()

    async def next(self, within: float) -> Outgoing | None:
        """For a reader that awaits each message (an SSE stream): the next one; None after
        ``within`` s of quiet, or at once when the connection must end."""
        if not self.items and not self.ending:
            arrived = asyncio.get_running_loop().create_future()
            self.wake = lambda: None if arrived.done() else arrived.set_result(None)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived, within)
            finally:
                self.wake = None
        return self.items.pop(0) if self.items else None


class Subscription:
    """One follower's subscription to one topic."""

    def __init__(self, topic: str, deliver: Callable[[str, dict[str, Any]], None]) -> None:
        self.topic = topic
        self.deliver = deliver  # (position, message): passes an update on
        self.position: str | None = None  # the newest passed on; None while reading the feed
        self._newest: str | None = None  # the newest ever passed on (reads may overlap)
        self._waiting: list[tuple[str, dict[str, Any]]] = []

    def heard(self, position: str, message: dict[str, Any]) -> None:
        if self.position is None:
            self._waiting.append((position, message))
        else:
            self._pass_on(position, message)

    def _pass_on(self, position: str, message: dict[str, Any]) -> None:
        if self._newest is None or position_key(position) > position_key(self._newest):
            self._newest = self.position = position
            self.deliver(position, message)

    def caught_up(self, newest: str, missed: list[tuple[str, dict[str, Any]]]) -> None:
        """After reading the feed (up to ``newest``): the missed messages, then those heard
        meanwhile that came after them, in order and each once."""
        waiting, self._waiting = self._waiting, []
        for position, message in missed:
            self._pass_on(position, message)
        known = [p for p in (newest, self._newest) if p is not None]
        self._newest = self.position = max(known, key=position_key)  # what came up to it: read
        for position, message in waiting:
            self._pass_on(position, message)

    def resyncing(self) -> str | None:
        """The source (re)started hearing: wait again until the feed is read after
        ``position``."""
        position, self.position = self.position, None
        return position


class FeedSource(Protocol):
    listening: asyncio.Event  # set once it hears the feeds

    async def run(self, heard: Callable[[str, str], None], reconnected: Callable[[], None]) -> None:
        """Calls ``heard(channel, payload)`` for every feed message until cancelled;
        ``reconnected()`` each time it starts hearing them (after a gap, or at first: what
        came before is read from the feeds)."""
        ...


class LiveMetrics:
    """What ``/metrics`` shows of the live channels."""

    def __init__(self, registry: CollectorRegistry, hub: LiveHub) -> None:
        self.connections = Gauge(
            "tiffin_live_connections", "WebSocket connections open on /v1/live", registry=registry
        )
        subscriptions = Gauge(
            "tiffin_live_subscriptions",
            "live topics followed (WebSocket and SSE)",
            registry=registry,
        )
        subscriptions.set_function(lambda: hub.subscriptions)
        self.closed = Counter(
            "tiffin_live_closed",
            "live connections the server closed, by reason (slow_consumer, no_pong, ...)",
            ["reason"],
            registry=registry,
        )


class LiveHub:
    """The process's subscriptions by topic, fed by its one source."""

    def __init__(
        self, source: FeedSource, prefix: str, registry: CollectorRegistry | None = None
    ) -> None:
        self.source = source
        self.prefix = prefix
        self.metrics = LiveMetrics(registry or CollectorRegistry(), self)
        self._by_topic: dict[str, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._resyncs: dict[Subscription, Callable[[str | None], None]] = {}
        self._outboxes: weakref.WeakSet[Outbox] = weakref.WeakSet()
        self.going_away = False

    async def start(self) -> None:
        """Starts hearing the source; returns once it listens (or after ``READY_SECONDS``
        with Redis down: subscriptions made before it listens read their feeds again then)."""
        self._task = asyncio.create_task(self.source.run(self._heard, self._reconnected))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.source.listening.wait(), READY_SECONDS)

    def outbox(self, limit: int) -> Outbox:
        """A new follower's outbox (told when the server shuts down)."""
        outbox = Outbox(limit)
        self._outboxes.add(outbox)
        if self.going_away:
            outbox.leave()
        return outbox

    def go_away(self) -> None:
        """The server is shutting down: every follower is let go."""
        self.going_away = True
        for outbox in list(self._outboxes):
            outbox.leave()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def subscriptions(self) -> int:
        return sum(len(found) for found in self._by_topic.values())

    def join(self, subscription: Subscription, resync: Callable[[str | None], None]) -> None:
        """From now on the subscription hears its topic (``resync(after)`` after a gap)."""
        self._by_topic[subscription.topic].add(subscription)
        self._resyncs[subscription] = resync

    def leave(self, subscription: Subscription) -> None:
        found = self._by_topic.get(subscription.topic)
        if found is not None:
            found.discard(subscription)
            if not found:
                del self._by_topic[subscription.topic]
        self._resyncs.pop(subscription, None)

    def _heard(self, channel: str, payload: str) -> None:
        topic = channel[len(channel_of(self.prefix, "")) :]
        found = self._by_topic.get(topic)
        if not found:
            return
        try:
            position, message = parse_published(payload)
            position_key(position)
        except ValueError:
            log.warning("a malformed live message on %s was dropped", channel)
            return
        for subscription in list(found):
            subscription.heard(position, message)

    def _reconnected(self) -> None:
        for subscription, resync in list(self._resyncs.items()):
            resync(subscription.resyncing())


class InProcessSource:
    """The embedded default: ``follow`` is MemoryViews.follow (called from worker threads)."""

    def __init__(self, follow: Callable[[Callable[[str, str], None]], Callable[[], None]]) -> None:
        self._follow = follow
        self.listening = asyncio.Event()

    async def run(self, heard: Callable[[str, str], None], reconnected: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()

        def follower(channel: str, text: str) -> None:  # on a worker thread
            loop.call_soon_threadsafe(heard, channel, text)

        stop = self._follow(follower)
        self.listening.set()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            stop()


class RedisSource:
    """Server mode: one pub/sub connection per API process, on the pattern of every topic."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = AsyncRedis.from_url(url)
        self.pattern = channel_of(prefix, "*")
        self.listening = asyncio.Event()

    async def run(self, heard: Callable[[str, str], None], reconnected: Callable[[], None]) -> None:
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.psubscribe(self.pattern)
                self.listening.set()
                reconnected()  # what was fed while nobody heard is read from the feeds
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        heard(_text(message["channel"]), _text(message["data"]))
            except (ConnectionError, OSError, TimeoutError) as error:
                log.warning("live feed: Redis pub/sub lost (%r); reconnecting", error)
            except Exception as error:  # redis.exceptions.ConnectionError is not OSError
                if type(error).__module__.startswith("redis"):
                    log.warning("live feed: Redis pub/sub lost (%r); reconnecting", error)
                else:
                    raise
            finally:
                self.listening.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
