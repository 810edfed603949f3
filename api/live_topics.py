"""Who may follow which live topic, and what following it starts with.

The ownership rules are the HTTP routes', through the same code: an order's topic is for whoever
may see the order (``OrderTracking.visible``: its customer, its restaurant's owner, its courier,
an admin); a restaurant's for its owner; a courier's for that courier. To anyone else a topic is
answered word for word as the route answers for no such thing (404).

Following starts with what the follower missed since its last position, read from the topic's
feed, or, without a position or when the feed no longer reaches back to it, a snapshot of the
topic from the view, at the feed's position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from api.access import RestaurantOwners, courier_of
from api.order_tracking import OrderTracking
from api.problems import ApiProblem
from application.errors import NotFound
from application.identity import Identity
from domain.values import Role
from projections.key_views import KeyStore
from projections.live_feed import COURIER, ORDER, RESTAURANT, FeedRead, Topic
from projections.order_tracking import NAME as ORDER_TRACKING
from projections.order_tracking import assignments_key
from projections.order_tracking import key as order_key
from projections.restaurant_queue import NAME as RESTAURANT_QUEUE

FOLLOWERS = frozenset({Role.CUSTOMER, Role.RESTAURANT, Role.COURIER, Role.ADMIN})


@dataclass(frozen=True)
class Opening:
    """How following a topic starts: the missed updates, or (``missed`` None) a snapshot."""

    position: str
    missed: list[tuple[str, dict[str, Any]]] | None
    snapshot: dict[str, Any] | None


def order_status(order_id: Any, tracked: dict[str, str]) -> dict[str, Any]:
    """An order as its topic's snapshot has it (the fields of ``GET /v1/orders/{id}/status``)."""
    return {
        "order_id": str(order_id),
        "status": tracked.get("status") or None,
        "payment_status": tracked.get("payment_status") or None,
        "delivery_status": tracked.get("delivery_status") or None,
        "courier_id": tracked.get("courier_id") or None,
        "status_at": tracked.get("status_at") or None,
    }


class LiveTopics:
    def __init__(
        self,
        tracking: OrderTracking,
        hot_views: KeyStore,
        prefix: str,
        owners: RestaurantOwners,
    ) -> None:
        self.tracking = tracking
        self.hot_views = hot_views
        self.prefix = prefix
        self.owners = owners

    def authorize(self, caller: Identity, topic: Topic) -> None:
        """Returns if the caller may follow the topic; else ApiProblem 404 (403 for a role
        with no live topics)."""
        if caller.role not in FOLLOWERS:
            raise ApiProblem(403, f"the {caller.role} role has no live topics")
        if topic.kind == ORDER:
            self.tracking.visible(caller, UUID(topic.id))
        elif topic.kind == RESTAURANT:
            self._restaurant_visible(caller, UUID(topic.id))
        elif caller.role is not Role.ADMIN and (
            caller.role is not Role.COURIER or courier_of(caller) != topic.id
        ):
            raise ApiProblem(404, f"no courier with id {topic.id}")

    def _restaurant_visible(self, caller: Identity, restaurant_id: UUID) -> None:
        hidden = ApiProblem(404, f"no restaurant with id {restaurant_id}")
        if caller.role not in (Role.ADMIN, Role.RESTAURANT):
            raise hidden
        try:
            owner = self.owners(restaurant_id)
        except NotFound:
            raise hidden from None
        if caller.role is Role.RESTAURANT and owner != caller.subject:
            raise hidden

    def open(self, topic: Topic, after: str | None) -> Opening:
        """What following the topic after ``after`` starts with (one atomic read of its view)."""
        if topic.kind == ORDER:
            read = self._read(ORDER_TRACKING, topic, after, hashes=[order_key(topic.id)])
            if read.missed is not None:
                return Opening(read.position, read.missed, None)
            tracked = read.hashes[order_key(topic.id)]
            if not tracked:  # placed a moment ago: the view has not taken it in yet
                tracked = self.tracking.from_event_store(UUID(topic.id))
            return Opening(read.position, None, order_status(topic.id, tracked))
        if topic.kind == RESTAURANT:
            queue, statuses = f"restaurant:{topic.id}:queue", f"restaurant:{topic.id}:open"
            read = self._read(RESTAURANT_QUEUE, topic, after, [statuses], [queue])
            if read.missed is not None:
                return Opening(read.position, read.missed, None)
            open_now = read.hashes[statuses]
            orders = [
                {"order_id": order_id, "status": open_now[order_id], "paid_at": paid_at}
                for order_id, paid_at in read.zsets[queue]
                if order_id in open_now
            ]
            return Opening(read.position, None, {"restaurant_id": topic.id, "orders": orders})
        assert topic.kind == COURIER
        read = self._read(ORDER_TRACKING, topic, after, hashes=[assignments_key(topic.id)])
        if read.missed is not None:
            return Opening(read.position, read.missed, None)
        steps = sorted(read.hashes[assignments_key(topic.id)].items())
        assignments = [{"order_id": order_id, "status": step} for order_id, step in steps]
        return Opening(read.position, None, {"courier_id": topic.id, "assignments": assignments})

    def _read(
        self,
        view: str,
        topic: Topic,
        after: str | None,
        hashes: list[str] | None = None,
        zsets: list[str] | None = None,
    ) -> FeedRead:
        base = f"{self.prefix}view:{view}:"
        return self.hot_views.read_feed(base, str(topic), after, hashes or [], zsets or [])
