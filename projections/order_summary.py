"""The order summary: one row per order with its status, parties, money and milestones.

For apps' order lists and for analysts (columns documented in docs/analyst-tables.md). Each
event sets only the columns it is about, so events of the order, its payment and its delivery
may be applied in any relative order and the row still ends the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.order import subtotal_of
from projections.projector import Apply, Projection
from projections.sql_helpers import upsert as set_columns
from projections.views import Run

TABLE = "order_summary"
COLUMNS = (
    "customer_id TEXT",
    "restaurant_id TEXT",
    "status TEXT",
    "courier_id TEXT",
    "item_count INTEGER",
    "currency TEXT",
    "subtotal_minor BIGINT",
    "delivery_fee_minor BIGINT",
    "total_minor BIGINT",
    "prep_minutes INTEGER",
    "closing_reason TEXT",
    "payment_status TEXT",
    "refund_minor BIGINT",
    "delivery_status TEXT",
    "restaurant_stars INTEGER",
    "courier_stars INTEGER",
    "placed_at TIMESTAMP WITH TIME ZONE",
    "paid_at TIMESTAMP WITH TIME ZONE",
    "accepted_at TIMESTAMP WITH TIME ZONE",
    "ready_at TIMESTAMP WITH TIME ZONE",
    "picked_up_at TIMESTAMP WITH TIME ZONE",
    "delivered_at TIMESTAMP WITH TIME ZONE",
    "cancelled_at TIMESTAMP WITH TIME ZONE",
    "rejected_at TIMESTAMP WITH TIME ZONE",
)
CREATE = f"CREATE TABLE IF NOT EXISTS {TABLE} (order_id TEXT PRIMARY KEY, {', '.join(COLUMNS)})"


def upsert(run: Run, order_id: Any, **columns: Any) -> None:
    """Sets these columns of the order's row, creating the row if it is not there yet."""
    set_columns(run, TABLE, {"order_id": str(order_id)}, **columns)


def _placed(run: Run, event: Any) -> None:
    fee = event.delivery_fee
    subtotal = subtotal_of(event.lines, fee.currency)
    upsert(
        run,
        event.originator_id,
        customer_id=event.customer_id,
        restaurant_id=str(event.restaurant_id),
        status="awaiting_payment",
        item_count=sum(line.quantity for line in event.lines),
        currency=fee.currency,
        subtotal_minor=subtotal.minor,
        delivery_fee_minor=fee.minor,
        total_minor=subtotal.minor + fee.minor,
        placed_at=event.timestamp,
    )


def _status(status: str, at: str | None = None, **more: Callable[[Any], Any]) -> Apply:
    """An applier setting the order's status, the time it changed, and columns from the event."""

    def apply(run: Run, event: Any) -> None:
        columns = {name: value(event) for name, value in more.items()}
        if at is not None:
            columns[at] = event.timestamp
        upsert(run, event.originator_id, status=status, **columns)

    return apply


def _setting(order_id_of: Callable[[Any], Any], **columns: Callable[[Any], Any]) -> Apply:
    """An applier setting columns, each computed from the event, of the order's row."""
    return lambda run, event: upsert(
        run, order_id_of(event), **{name: value(event) for name, value in columns.items()}
    )


def _row(**columns: Callable[[Any], Any]) -> Apply:
    """For the order's own events."""
    return _setting(lambda event: event.originator_id, **columns)


def _of_order(**columns: Callable[[Any], Any]) -> Apply:
    """For its payment's and its delivery's events, which carry ``order_id``."""
    return _setting(lambda event: event.order_id, **columns)


def _const(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


ORDER_SUMMARY = Projection(
    name="order_summary",
    tables=(CREATE,),
    appliers={
        "Order.Placed": _placed,
        "Order.Paid": _status("pending_acceptance", "paid_at"),
        "Order.Accepted": _status("accepted", "accepted_at", prep_minutes=lambda e: e.prep_minutes),
        "Order.Rejected": _status("rejected", "rejected_at", closing_reason=lambda e: e.reason),
        "Order.ReadyForPickup": _status("ready_for_pickup", "ready_at"),
        "Order.CourierAssigned": _row(courier_id=lambda e: e.courier_id),
        "Order.CourierUnassigned": _row(courier_id=_const(None)),
        "Order.PickedUp": _status("picked_up", "picked_up_at"),
        "Order.Delivered": _status("delivered", "delivered_at"),
        "Order.Cancelled": _status("cancelled", "cancelled_at", closing_reason=lambda e: e.reason),
        "Order.Rated": _row(
            restaurant_stars=lambda e: e.rating.restaurant_stars,
            courier_stars=lambda e: e.rating.courier_stars,
        ),
        "Payment.Requested": _of_order(payment_status=_const("pending")),
        "Payment.Captured": _of_order(payment_status=_const("captured")),
        "Payment.Failed": _of_order(payment_status=_const("failed")),
        "Payment.Expired": _of_order(payment_status=_const("expired")),
        "Payment.RefundRequested": _of_order(
            payment_status=_const("refund_pending"), refund_minor=lambda e: e.refund.amount.minor
        ),
        "Payment.Refunded": _of_order(payment_status=_const("refunded")),
        "Delivery.Requested": _of_order(delivery_status=_const("requested")),
        "Delivery.Assigned": _of_order(delivery_status=_const("assigned")),
        "Delivery.Unassigned": _of_order(delivery_status=_const("unassigned")),
        "Delivery.PickedUp": _of_order(delivery_status=_const("picked_up")),
        "Delivery.Delivered": _of_order(delivery_status=_const("delivered")),
        "Delivery.Cancelled": _of_order(delivery_status=_const("cancelled")),
        "Delivery.Recalled": _of_order(delivery_status=_const("cancelled")),
    },
)
