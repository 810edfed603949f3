"""What each recorded event tells each party, as a push notification.

The customer hears of payment, acceptance (or rejection), the courier's assignment, pick-up,
delivery, cancellation and refund; the restaurant of a new paid order and of a cancellation;
the courier of a new assignment and of one taken away. Nobody is told of what they did
themselves. Each notice names its order and a status: the two make its collapse key, so a repeat
replaces the first on the device instead of buzzing again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from application.devices import courier_party, customer_party, restaurant_party
from domain.order import Order, OrderStatus
from domain.values import Money

PAID_STATUSES = frozenset(
    {OrderStatus.PENDING_ACCEPTANCE, OrderStatus.ACCEPTED, OrderStatus.READY_FOR_PICKUP}
)
MAX_REASON = 100


@dataclass(frozen=True)
class Notice:
    party: str
    status: str  # with the order id, the collapse key
    title: str
    body: str


@dataclass(frozen=True)
class Happened:
    """An event of an order, with what is needed to word it."""

    event: str  # "Order.Paid", "Payment.Refunded", ...
    before: Order | None  # the order just before the event (None for a payment's event)
    after: Order
    restaurant: str  # its name
    restaurant_owner: str
    refunded: Money | None = None


def _reason(order: Order) -> str:
    reason = order.closing_reason or "no reason given"
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _items(order: Order) -> int:
    return sum(line.quantity for line in order.lines)


def _paid(h: Happened) -> list[Notice]:
    order = h.after
    return [
        Notice(
            customer_party(order.customer_id),
            "paid",
            "Order confirmed",
            f"Paid {order.total}. {h.restaurant} will confirm your order shortly.",
        ),
        Notice(
            restaurant_party(h.restaurant_owner),
            "paid",
            "New order",
            f"{_items(order)} item(s), {order.total}: accept or reject it.",
        ),
    ]


def _accepted(h: Happened) -> list[Notice]:
    body = f"{h.restaurant} is preparing your order: ready in about {h.after.prep_minutes} min."
    return [Notice(customer_party(h.after.customer_id), "accepted", "Order accepted", body)]


def _rejected(h: Happened) -> list[Notice]:
    body = f"{h.restaurant} cannot take your order ({_reason(h.after)}). You will be refunded."
    return [Notice(customer_party(h.after.customer_id), "rejected", "Order declined", body)]


def _assigned(h: Happened) -> list[Notice]:
    order = h.after
    assert order.courier_id is not None  # the event assigns one
    return [
        Notice(
            customer_party(order.customer_id),
            "courier_assigned",
            "Courier assigned",
            f"A courier is on the way to {h.restaurant} for your order.",
        ),
        Notice(
            courier_party(order.courier_id),
            "courier_assigned",
            "New delivery",
            f"Pick up an order at {h.restaurant}.",
        ),
    ]


def _unassigned(h: Happened) -> list[Notice]:
    courier = h.before.courier_id if h.before is not None else None
    if courier is None:
        return []
    body = f"You are no longer delivering the order from {h.restaurant}."
    return [Notice(courier_party(courier), "courier_unassigned", "Delivery cancelled", body)]


def _picked_up(h: Happened) -> list[Notice]:
    body = f"Your order from {h.restaurant} has been picked up and is on its way."
    return [Notice(customer_party(h.after.customer_id), "picked_up", "On its way", body)]


def _delivered(h: Happened) -> list[Notice]:
    body = f"Your order from {h.restaurant} has arrived. Enjoy!"
    return [Notice(customer_party(h.after.customer_id), "delivered", "Delivered", body)]


def _cancelled(h: Happened) -> list[Notice]:
    order, before = h.after, h.before
    was_paid = before is not None and before.status in PAID_STATUSES
    refund = " You will be refunded." if was_paid else ""
    notices = [
        Notice(
            customer_party(order.customer_id),
            "cancelled",
            "Order cancelled",
            f"Your order from {h.restaurant} was cancelled ({_reason(order)}).{refund}",
        )
    ]
    if was_paid:
        notices.append(
            Notice(
                restaurant_party(h.restaurant_owner),
                "cancelled",
                "Order cancelled",
                f"An order of {_items(order)} item(s) was cancelled ({_reason(order)}).",
            )
        )
    if before is not None and before.courier_id is not None:
        body = f"The order from {h.restaurant} was cancelled: no need to collect it."
        notices.append(
            Notice(courier_party(before.courier_id), "cancelled", "Delivery cancelled", body)
        )
    return notices


def _refunded(h: Happened) -> list[Notice]:
    body = f"{h.refunded} for your order from {h.restaurant} is on its way back to you."
    return [Notice(customer_party(h.after.customer_id), "refunded", "Refund completed", body)]


NOTICES: dict[str, Callable[[Happened], list[Notice]]] = {
    "Order.Paid": _paid,
    "Order.Accepted": _accepted,
    "Order.Rejected": _rejected,
    "Order.CourierAssigned": _assigned,
    "Order.CourierUnassigned": _unassigned,
    "Order.PickedUp": _picked_up,
    "Order.Delivered": _delivered,
    "Order.Cancelled": _cancelled,
    "Payment.Refunded": _refunded,
}
NEEDS_BEFORE = frozenset({"Order.CourierUnassigned", "Order.Cancelled"})


def notices_for(happened: Happened, actor: str | None) -> list[Notice]:
    """What the event tells each party, but the ``actor`` (the party who caused it)."""
    return [n for n in NOTICES[happened.event](happened) if n.party != actor]
