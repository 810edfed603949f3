"""Live feeds: what the hot views tell their followers, topic by topic, with positions.

A hot view's appliers write, beside the view's keys, a feed message for each change a follower
cares about (``KeyOps.feed``): it is appended to the topic's feed in the same atomic step as the
change (a Redis stream ``feed:<topic>`` in the view's generation; a bounded list in-process) and
published to ``<prefix>live:<topic>`` as ``<position> <json>``. A position is the feed entry's id,
``<ms>-<seq>``, increasing along a topic's feed.

A follower that comes back with the last position it saw reads what it missed from the feed,
or, if the feed no longer reaches back that far (it keeps the newest ``FEED_KEEP`` entries, for
``FEED_DAYS``), the view's current state of the topic: a snapshot, at the feed's position.

Topics:
- ``order:<order id>``, kept by the order tracking view: status, payment and delivery changes,
  courier assigned or gone;
- ``restaurant:<restaurant id>``, kept by the restaurant queue view: paid orders joining the
  queue, their status in it, and orders leaving it;
- ``courier:<courier id>``, kept by the order tracking view: deliveries assigned to the
  courier, ready for pickup, picked up, and taken away or cancelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

FEED_KEEP = 100  # entries per topic (Redis trims approximately: at least this many)
FEED_DAYS = 2  # a topic's feed is forgotten this long after its last entry
NO_POSITION = "0-0"
ORDER, RESTAURANT, COURIER = "order", "restaurant", "courier"
KINDS = (ORDER, RESTAURANT, COURIER)


class BadTopic(ValueError):
    """Not a topic: the message says what a topic looks like."""


@dataclass(frozen=True)
class Topic:
    kind: str  # order, restaurant or courier
    id: str  # the order's or restaurant's UUID, or the courier's id

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_topic(text: str) -> Topic:
    kind, _, identifier = text.partition(":")
    if kind not in KINDS or not identifier:
        raise BadTopic(f"{text!r} is not a topic: order:<id>, restaurant:<id> or courier:<id>")
    if kind in (ORDER, RESTAURANT):
        try:
            identifier = str(UUID(identifier))
        except ValueError:
            raise BadTopic(f"{text!r}: a {kind} id is a UUID") from None
    elif len(identifier) > 100:
        raise BadTopic(f"{text!r}: a courier id is at most 100 characters")
    return Topic(kind, identifier)


def order_topic(order_id: Any) -> str:
    return f"{ORDER}:{order_id}"


def position_key(position: str) -> tuple[int, int]:
    """A position as something that sorts: ValueError if it is not one."""
    ms, dash, seq = position.partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit() or len(position) > 41:
        raise ValueError(f"{position!r} is not a feed position (<ms>-<seq>)")
    return int(ms), int(seq)


def channel_of(prefix: str, topic: str) -> str:
    """The pub/sub channel a topic's messages are published on."""
    return f"{prefix}live:{topic}"


def parse_published(payload: str) -> tuple[str, dict[str, Any]]:
    """A published feed message: its position and its message."""
    position, _, message = payload.partition(" ")
    parsed: dict[str, Any] = json.loads(message)
    return position, parsed


@dataclass(frozen=True)
class FeedRead:
    """A topic's feed read after a position: what was missed, or (``missed`` None) the view's
    keys for a snapshot; ``position`` is the feed's newest either way."""

    position: str
    missed: list[tuple[str, dict[str, Any]]] | None
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    zsets: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
