"""The order tracking hot view: one hash per order with its status, parties, money, payment
and delivery status, and each courier's assignments; fed live to apps following an order or a
courier (``projections/live_feed.py``).

Keys in the view's generation: ``order:<id>``, a hash of the order; ``courier:<id>:assignments``,
a hash of order id to the assignment's step (``assigned``, ``ready_for_pickup``, ``picked_up``)
while the courier has the delivery. Feed messages on topic ``order:<id>`` are JSON ``{"type":
"status" | "payment" | "delivery" | "courier", "order_id", ...}``; on ``courier:<id>``, ``{"type":
"assigned" | "ready_for_pickup" | "picked_up" | "unassigned" | "delivered" | "cancelled",
"order_id"}``. Each field is set from one log only (the order's own fields from Ordering,
``payment_status`` from Payments, ``delivery_status`` from Deliveries), so the logs may be applied
in any relative order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.order import total_of
from projections.key_views import HashReads, KeyOps, KeyStore, lookup
from projections.live_feed import order_topic
from projections.projector import Apply, Projection

NAME = "order_tracking"
ASSIGNMENT_STEPS = ("assigned", "ready_for_pickup", "picked_up")


def key(order_id: Any) -> str:
    return f"order:{order_id}"


def assignments_key(courier_id: Any) -> str:
    return f"courier:{courier_id}:assignments"


def _couriers(order_id: Any, template: str) -> tuple[str, str, str]:
    """A key of the order's courier (none while it has none)."""
    return lookup(key(order_id), "courier_id", template)


def _placed(ops: KeyOps, event: Any) -> None:
    total = total_of(event.lines, event.delivery_fee)
    fields = {
        "status": "awaiting_payment",
        "customer_id": event.customer_id,
        "restaurant_id": event.restaurant_id,
        "total_minor": total.minor,
        "currency": total.currency,
        "courier_id": None,
        "placed_at": event.timestamp.isoformat(),
        "status_at": event.timestamp.isoformat(),
    }
    ops.hset(key(event.originator_id), fields)
    _announce(ops, event.originator_id, "status", status="awaiting_payment")


def _status(status: str, courier: str | None = None, **more: Callable[[Any], Any]) -> Apply:
    """The order's new status; ``courier``: what it is to the courier carrying it (a step of
    the assignment, or "delivered"/"cancelled": the assignment is over)."""

    def apply(ops: KeyOps, event: Any) -> None:
        order_id = event.originator_id
        fields = {name: value(event) for name, value in more.items()}
        at = event.timestamp.isoformat()
        ops.hset(key(order_id), {"status": status, "status_at": at, **fields})
        _announce(ops, order_id, "status", status=status, at=at)
        if courier is not None:
            _tell_courier(ops, order_id, courier)

    return apply


def _tell_courier(ops: KeyOps, order_id: Any, step: str) -> None:
    assignments = _couriers(order_id, "courier:%s:assignments")
    if step in ASSIGNMENT_STEPS:
        ops.hset(assignments, {str(order_id): step})
    else:
        ops.hdel(assignments, str(order_id))
    ops.feed(_couriers(order_id, "courier:%s"), {"type": step, "order_id": str(order_id)})


def _assigned(ops: KeyOps, event: Any) -> None:
    order_id, courier_id = event.originator_id, event.courier_id
    ops.hset(key(order_id), {"courier_id": courier_id})
    _announce(ops, order_id, "courier", courier_id=courier_id)
    _tell_courier(ops, order_id, "assigned")


def _unassigned(ops: KeyOps, event: Any) -> None:
    _tell_courier(ops, event.originator_id, "unassigned")  # while the order still names them
    ops.hset(key(event.originator_id), {"courier_id": None})
    _announce(ops, event.originator_id, "courier", courier_id=None)


def _of_order(field: str, kind: str, value: str) -> Apply:
    """For its payment's and delivery's events, which carry ``order_id``."""

    def apply(ops: KeyOps, event: Any) -> None:
        ops.hset(key(event.order_id), {field: value})
        _announce(ops, event.order_id, kind, status=value)

    return apply


def _announce(ops: KeyOps, order_id: Any, kind: str, **details: Any) -> None:
    ops.feed(order_topic(order_id), {"type": kind, "order_id": str(order_id), **details})


def _payment(status: str) -> Apply:
    return _of_order("payment_status", "payment", status)


def _delivery(status: str) -> Apply:
    return _of_order("delivery_status", "delivery", status)


def _reason(event: Any) -> Any:
    return event.reason


ORDER_TRACKING = Projection(
    name=NAME,
    tables=(),
    appliers={
        "Order.Placed": _placed,
        "Order.Paid": _status("pending_acceptance"),
        "Order.Accepted": _status("accepted", prep_minutes=lambda e: e.prep_minutes),
        "Order.Rejected": _status("rejected", courier="cancelled", closing_reason=_reason),
        "Order.ReadyForPickup": _status("ready_for_pickup", courier="ready_for_pickup"),
        "Order.PickedUp": _status("picked_up", courier="picked_up"),
        "Order.Delivered": _status("delivered", courier="delivered"),
        "Order.Cancelled": _status("cancelled", courier="cancelled", closing_reason=_reason),
        "Order.CourierAssigned": _assigned,
        "Order.CourierUnassigned": _unassigned,
        "Payment.Requested": _payment("pending"),
        "Payment.Captured": _payment("captured"),
        "Payment.Failed": _payment("failed"),
        "Payment.Expired": _payment("expired"),
        "Payment.RefundRequested": _payment("refund_pending"),
        "Payment.Refunded": _payment("refunded"),
        "Delivery.Requested": _delivery("requested"),
        "Delivery.Assigned": _delivery("assigned"),
        "Delivery.Unassigned": _delivery("unassigned"),
        "Delivery.PickedUp": _delivery("picked_up"),
        "Delivery.Delivered": _delivery("delivered"),
        "Delivery.Cancelled": _delivery("cancelled"),
        "Delivery.Recalled": _delivery("cancelled"),
    },
)


def tracked_order(store: KeyStore, prefix: str, order_id: Any) -> dict[str, str]:
    """The order's hot view (empty if the view does not know it yet)."""
    return store.hgetall(f"{prefix}view:{NAME}:", key(order_id))


async def tracked_order_now(reads: HashReads, prefix: str, order_id: Any) -> dict[str, str]:
    """``tracked_order``, read from an event loop."""
    return await reads.hgetall(f"{prefix}view:{NAME}:", key(order_id))
