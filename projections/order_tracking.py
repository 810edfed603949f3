"""The order tracking hot view: one hash per order with its status, parties, money, payment
and delivery status, published on every change for apps following the order live.

Key ``order:<id>`` in the view's generation; messages on channel ``<prefix>order:<id>`` are JSON
``{"type": "status" | "payment" | "delivery" | "courier", "order_id", ...}``. Each field is set
from one log only (the order's own fields from Ordering, ``payment_status`` from Payments,
``delivery_status`` from Deliveries), so the logs may be applied in any relative order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.order import total_of
from projections.key_views import KeyOps, KeyStore
from projections.projector import Apply, Projection

NAME = "order_tracking"


def key(order_id: Any) -> str:
    return f"order:{order_id}"


def channel(order_id: Any) -> str:
    return f"order:{order_id}"


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


def _status(status: str, **more: Callable[[Any], Any]) -> Apply:
    def apply(ops: KeyOps, event: Any) -> None:
        fields = {name: value(event) for name, value in more.items()}
        at = event.timestamp.isoformat()
        ops.hset(key(event.originator_id), {"status": status, "status_at": at, **fields})
        _announce(ops, event.originator_id, "status", status=status, at=at)

    return apply


def _courier(courier_of: Callable[[Any], Any]) -> Apply:
    def apply(ops: KeyOps, event: Any) -> None:
        courier_id = courier_of(event)
        ops.hset(key(event.originator_id), {"courier_id": courier_id})
        _announce(ops, event.originator_id, "courier", courier_id=courier_id)

    return apply


def _of_order(field: str, kind: str, value: str) -> Apply:
    """For its payment's and delivery's events, which carry ``order_id``."""

    def apply(ops: KeyOps, event: Any) -> None:
        ops.hset(key(event.order_id), {field: value})
        _announce(ops, event.order_id, kind, status=value)

    return apply


def _announce(ops: KeyOps, order_id: Any, kind: str, **details: Any) -> None:
    ops.publish(channel(order_id), {"type": kind, "order_id": str(order_id), **details})


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
        "Order.Rejected": _status("rejected", closing_reason=_reason),
        "Order.ReadyForPickup": _status("ready_for_pickup"),
        "Order.PickedUp": _status("picked_up"),
        "Order.Delivered": _status("delivered"),
        "Order.Cancelled": _status("cancelled", closing_reason=_reason),
        "Order.CourierAssigned": _courier(lambda e: e.courier_id),
        "Order.CourierUnassigned": _courier(lambda _: None),
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
