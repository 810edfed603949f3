"""One follower's live session: its subscriptions, and what is on its way to it.

A WebSocket connection (``api/routes/live.py``) has one session for all its topics; an order's
Server-Sent Events stream has one for that order's topic. Both get the same messages, into one
bounded outbox:

- ``snapshot``: ``{"topic", "position", "data"}``, the topic's current state, when following
  starts without a position or with one the feed no longer reaches back to;
- ``update``: ``{"topic", "position", "data"}``, each change after the position, in order, once;
- ``courier_location``: ``{"topic", "data": {"courier_id", "lat", "lng", "at"}}``, about once a
  second while an order's courier moves (no position: only the latest matters);
- ``error``: ``{"topic", "status", "detail"}``, a subscription refused or ended (404 for a topic
  the caller may not follow, 400 for a malformed one, 503 while the views cannot be read).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.live_hub import LiveHub, Outbox, Subscription
from api.live_topics import LiveTopics
from api.problems import ApiProblem
from application.identity import Identity
from application.locations import LocationStore
from projections.live_feed import ORDER, BadTopic, Topic, parse_topic, position_key

log = logging.getLogger(__name__)
FINAL = frozenset({"delivered", "cancelled", "rejected"})
LOCATION_EVERY_SECONDS = 1.0


class _Followed:
    """A topic the session follows; an order's also notes its status and courier, to send the
    courier's position while one carries it."""

    def __init__(self, topic: Topic, subscription: Subscription) -> None:
        self.topic = topic
        self.subscription = subscription
        self.status: str | None = None
        self.courier_id: str | None = None
        self.locating: asyncio.Task[None] | None = None

    def note(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind is None or kind == "status":  # a snapshot, or a status update
            self.status = data.get("status") or self.status
        if kind is None or kind == "courier":
            self.courier_id = data.get("courier_id") or None

    @property
    def carried(self) -> bool:
        return self.courier_id is not None and self.status not in FINAL


class LiveSession:
    def __init__(
        self,
        caller: Identity,
        topics: LiveTopics,
        hub: LiveHub,
        locations: LocationStore,
        outbox: Outbox,
        max_topics: int,
    ) -> None:
        self.caller = caller
        self.topics = topics
        self.hub = hub
        self.locations = locations
        self.outbox = outbox
        self.max_topics = max_topics
        self.followed: dict[str, _Followed] = {}
        self._tasks: set[asyncio.Task[bool]] = set()

    def _error(self, topic: str | None, status: int, detail: str) -> None:
        self.outbox.put("error", {"topic": topic, "status": status, "detail": detail})

    async def subscribe(self, text: Any, after: Any = None) -> bool:
        """Starts following a topic (after a position); False, with an error sent, if not."""
        name = text if isinstance(text, str) else None
        try:
            if name is None:
                raise BadTopic("a topic is a string: order:<id>, restaurant:<id> or courier:<id>")
            topic = parse_topic(name)
            if after is not None and not isinstance(after, str):
                raise BadTopic("after is a position string, as messages carry it")
            if after is not None:
                position_key(after)
        except ValueError as error:
            self._error(name, 400, str(error))
            return False
        if str(topic) in self.followed:
            self._error(str(topic), 409, "already subscribed to this topic")
            return False
        if len(self.followed) >= self.max_topics:
            self._error(str(topic), 429, f"at most {self.max_topics} topics per connection")
            return False
        try:
            await run_in_threadpool(self.topics.authorize, self.caller, topic)
        except ApiProblem as problem:
            self._error(str(topic), problem.status, problem.detail)
            return False
        followed = _Followed(topic, Subscription(str(topic), self._deliverer(topic)))
        self.followed[str(topic)] = followed
        self.hub.join(followed.subscription, lambda position: self._resync(followed, position))
        return await self._open(followed, after)

    def _deliverer(self, topic: Topic) -> Callable[[str, dict[str, Any]], None]:
        name = str(topic)

        def deliver(position: str, data: dict[str, Any]) -> None:
            self.outbox.put("update", {"topic": name, "position": position, "data": data})
            followed = self.followed.get(name)
            if followed is not None and topic.kind == ORDER:
                followed.note(data)
                self._locate(followed)

        return deliver

    async def _open(self, followed: _Followed, after: str | None) -> bool:
        name = str(followed.topic)
        try:
            opening = await run_in_threadpool(self.topics.open, followed.topic, after)
        except Exception as error:  # the views cannot be read: this subscription ends
            log.warning("live: %s could not be read: %r", name, error)
            self.unsubscribe(name)
            self._error(name, 503, "the views cannot be read now; subscribe again later")
            return False
        if name not in self.followed:  # unsubscribed meanwhile
            return False
        if opening.snapshot is not None:
            snapshot = {"topic": name, "position": opening.position, "data": opening.snapshot}
            self.outbox.put("snapshot", snapshot)
            if followed.topic.kind == ORDER:
                followed.note(opening.snapshot)
                self._locate(followed)
        followed.subscription.caught_up(opening.position, opening.missed or [])
        return True

    def _resync(self, followed: _Followed, position: str | None) -> None:
        task = asyncio.create_task(self._open(followed, position))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def unsubscribe(self, name: Any) -> None:
        followed = self.followed.pop(name, None) if isinstance(name, str) else None
        if followed is None:
            return
        self.hub.leave(followed.subscription)
        if followed.locating is not None:
            followed.locating.cancel()

    def _locate(self, followed: _Followed) -> None:
        if followed.carried and (followed.locating is None or followed.locating.done()):
            followed.locating = asyncio.create_task(self._courier_positions(followed))

    async def _courier_positions(self, followed: _Followed) -> None:
        """The courier's position, each time it changes (checked about once a second), while
        the order is being carried."""
        last: Any = None
        while followed.carried and str(followed.topic) in self.followed:
            courier_id = followed.courier_id
            assert courier_id is not None
            found = (await run_in_threadpool(self.locations.latest, [courier_id])).get(courier_id)
            if found is not None and found != last:
                last = found
                data = {
                    "courier_id": courier_id,
                    "lat": found.location.lat,
                    "lng": found.location.lng,
                    "at": found.at.isoformat(),
                }
                self.outbox.put("courier_location", {"topic": str(followed.topic), "data": data})
            await asyncio.sleep(LOCATION_EVERY_SECONDS)

    def close(self) -> None:
        for name in list(self.followed):
            self.unsubscribe(name)
        for task in list(self._tasks):
            task.cancel()
