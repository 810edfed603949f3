"""Each restaurant's queue of open orders: paid orders it has not yet handed to a courier.

Keys in the view's generation: ``restaurant:<id>:queue``, a sorted set of order ids scored by
when the order was paid (oldest first), and ``restaurant:<id>:open``, a hash of order id to its
status (``pending_acceptance``, ``accepted``, ``ready_for_pickup``). The order's restaurant is
remembered in the ``restaurant_of`` hash from placement until the order is closed. Feed
messages on topic ``restaurant:<id>`` (``projections/live_feed.py``): ``{"type": "queued",
"order_id", "status", "paid_at"}``, ``{"type": "status", ...}`` and ``{"type": "left", "order_id",
"status"}`` (picked up, delivered, cancelled or rejected; an order closed before it was paid
leaves a queue it never joined).
"""

from __future__ import annotations

from typing import Any

from projections.key_views import KeyOps, KeyStore, lookup
from projections.projector import Apply, Projection

NAME = "restaurant_queue"
RESTAURANT_OF = "restaurant_of"


def _queue(order_id: str) -> tuple[str, str, str]:
    return lookup(RESTAURANT_OF, order_id, "restaurant:%s:queue")


def _open(order_id: str) -> tuple[str, str, str]:
    return lookup(RESTAURANT_OF, order_id, "restaurant:%s:open")


def _placed(ops: KeyOps, event: Any) -> None:
    ops.hset(RESTAURANT_OF, {str(event.originator_id): event.restaurant_id})


def _topic(order_id: str) -> tuple[str, str, str]:
    return lookup(RESTAURANT_OF, order_id, "restaurant:%s")


def _paid(ops: KeyOps, event: Any) -> None:
    order_id = str(event.originator_id)
    paid_at = event.timestamp.timestamp()
    ops.zadd(_queue(order_id), paid_at, order_id)
    ops.hset(_open(order_id), {order_id: "pending_acceptance"})
    queued = {"order_id": order_id, "status": "pending_acceptance", "paid_at": paid_at}
    ops.feed(_topic(order_id), {"type": "queued", **queued})


def _now(status: str) -> Apply:
    def apply(ops: KeyOps, event: Any) -> None:
        order_id = str(event.originator_id)
        ops.hset(_open(order_id), {order_id: status})
        ops.feed(_topic(order_id), {"type": "status", "order_id": order_id, "status": status})

    return apply


def _leaves(status: str, closed: bool) -> Apply:
    """The order leaves the queue (picked up, or closed: then it is forgotten too)."""

    def apply(ops: KeyOps, event: Any) -> None:
        order_id = str(event.originator_id)
        ops.zrem(_queue(order_id), order_id)
        ops.hdel(_open(order_id), order_id)
        ops.feed(_topic(order_id), {"type": "left", "order_id": order_id, "status": status})
        if closed:
            ops.hdel(RESTAURANT_OF, order_id)

    return apply


RESTAURANT_QUEUE = Projection(
    name=NAME,
    tables=(),
    appliers={
        "Order.Placed": _placed,
        "Order.Paid": _paid,
        "Order.Accepted": _now("accepted"),
        "Order.ReadyForPickup": _now("ready_for_pickup"),
        "Order.PickedUp": _leaves("picked_up", closed=False),
        "Order.Delivered": _leaves("delivered", closed=True),
        "Order.Cancelled": _leaves("cancelled", closed=True),
        "Order.Rejected": _leaves("rejected", closed=True),
    },
)


def open_orders(store: KeyStore, prefix: str, restaurant_id: Any) -> list[tuple[str, str, float]]:
    """The restaurant's open orders, oldest paid first: (order id, status, paid at epoch s).

    Two reads, and a batch may land between them: the queue is read first, so an order paid
    meanwhile is simply not listed yet, and one that left meanwhile (its status gone) is left
    out."""
    base = f"{prefix}view:{NAME}:"
    queue = store.zrange(base, f"restaurant:{restaurant_id}:queue")
    statuses = store.hgetall(base, f"restaurant:{restaurant_id}:open")
    return [
        (order_id, statuses[order_id], paid) for order_id, paid in queue if order_id in statuses
    ]
