"""The key-value views as plain folds of the events, written independently of the appliers,
in the shape ``KeyStore.snapshot`` gives them (the view's own bookkeeping left out)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

BOOKKEEPING = ("positions", "parked")

ORDER_STATUS = {
    "Placed": "awaiting_payment",
    "Paid": "pending_acceptance",
    "Accepted": "accepted",
    "Rejected": "rejected",
    "ReadyForPickup": "ready_for_pickup",
    "PickedUp": "picked_up",
    "Delivered": "delivered",
    "Cancelled": "cancelled",
}
PAYMENT_STATUS = {
    "Requested": "pending",
    "Captured": "captured",
    "Failed": "failed",
    "Expired": "expired",
    "RefundRequested": "refund_pending",
    "Refunded": "refunded",
}
DELIVERY_STATUS = {
    "Requested": "requested",
    "Assigned": "assigned",
    "Unassigned": "unassigned",
    "PickedUp": "picked_up",
    "Delivered": "delivered",
    "Cancelled": "cancelled",
    "Recalled": "cancelled",
}
STILL_OPEN = {"Accepted": "accepted", "ReadyForPickup": "ready_for_pickup"}


def without_bookkeeping(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in snapshot.items() if key not in BOOKKEEPING}


ASSIGNMENT_STEP = {"ReadyForPickup": "ready_for_pickup", "PickedUp": "picked_up"}
ASSIGNMENT_ENDS = ("Delivered", "Cancelled", "Rejected")


def order_tracking(orders: list[Any], payments: list[Any], deliveries: list[Any]) -> dict[str, Any]:
    hashes: dict[str, dict[str, str]] = defaultdict(dict)
    carrying: dict[str, str] = {}  # order id: the courier it is assigned to now
    for e in orders:
        order_id = str(e.originator_id)
        _assignments(hashes, carrying, type(e).__name__, order_id, e)
        kind, row = type(e).__name__, hashes[f"order:{e.originator_id}"]
        if kind == "Placed":
            total = sum(line.unit_price.minor * line.quantity for line in e.lines)
            row |= {
                "status": "awaiting_payment",
                "customer_id": e.customer_id,
                "restaurant_id": str(e.restaurant_id),
                "total_minor": str(total + e.delivery_fee.minor),
                "currency": e.delivery_fee.currency,
                "courier_id": "",
                "placed_at": e.timestamp.isoformat(),
                "status_at": e.timestamp.isoformat(),
            }
        elif kind in ORDER_STATUS:
            row |= {"status": ORDER_STATUS[kind], "status_at": e.timestamp.isoformat()}
            if kind == "Accepted":
                row["prep_minutes"] = str(e.prep_minutes)
            if kind in ("Rejected", "Cancelled"):
                row["closing_reason"] = e.reason
        elif kind == "CourierAssigned":
            row["courier_id"] = e.courier_id
        elif kind == "CourierUnassigned":
            row["courier_id"] = ""
    for events, field, statuses in (
        (payments, "payment_status", PAYMENT_STATUS),
        (deliveries, "delivery_status", DELIVERY_STATUS),
    ):
        for e in events:
            if type(e).__name__ in statuses and hasattr(e, "order_id"):
                hashes[f"order:{e.order_id}"][field] = statuses[type(e).__name__]
    return {key: row for key, row in hashes.items() if row}


def _assignments(
    hashes: dict[str, dict[str, str]], carrying: dict[str, str], kind: str, order_id: str, e: Any
) -> None:
    """Each courier's deliveries: assigned, then the step it has reached, until it ends."""
    courier = carrying.get(order_id)
    if kind == "CourierAssigned":
        carrying[order_id] = e.courier_id
        hashes[f"courier:{e.courier_id}:assignments"][order_id] = "assigned"
    elif courier is not None and kind in ASSIGNMENT_STEP:
        hashes[f"courier:{courier}:assignments"][order_id] = ASSIGNMENT_STEP[kind]
    elif courier is not None and (kind == "CourierUnassigned" or kind in ASSIGNMENT_ENDS):
        hashes[f"courier:{courier}:assignments"].pop(order_id, None)
        del carrying[order_id]


def restaurant_queue(orders: list[Any]) -> dict[str, Any]:
    restaurant_of: dict[str, str] = {}
    paid: dict[str, float] = {}
    status: dict[str, str] = {}
    for e in orders:
        kind, order_id = type(e).__name__, str(e.originator_id)
        if kind == "Placed":
            restaurant_of[order_id] = str(e.restaurant_id)
        elif kind == "Paid":
            paid[order_id], status[order_id] = e.timestamp.timestamp(), "pending_acceptance"
        elif kind in STILL_OPEN:
            status[order_id] = STILL_OPEN[kind]
        elif kind in ("PickedUp", "Delivered", "Cancelled", "Rejected"):
            paid.pop(order_id, None)
            status.pop(order_id, None)
            if kind != "PickedUp":
                restaurant_of.pop(order_id, None)
    found: dict[str, Any] = {}
    if restaurant_of:
        found["restaurant_of"] = restaurant_of
    for order_id, at in sorted(paid.items(), key=lambda item: (item[1], item[0])):
        restaurant = restaurant_of[order_id]
        found.setdefault(f"restaurant:{restaurant}:queue", []).append((order_id, at))
        found.setdefault(f"restaurant:{restaurant}:open", {})[order_id] = status[order_id]
    return found
