"""Where the domain's events are stored under: a topic names the module and class of each.

Stored topics embed module paths, so the aggregates stay in ``domain/<aggregate>.py``; a move
would need the old topics registered (``eventsourcing.utils.register_topic``)."""

from __future__ import annotations

# Which application's notification log records each aggregate's events.
LOG_OF_AGGREGATE = {
    "Restaurant": "Restaurants",
    "Order": "Ordering",
    "Payment": "Payments",
    "Delivery": "Deliveries",
    "Courier": "Deliveries",
}


def event_topic(qualname: str) -> str:
    """The stored topic of one of Tiffin's domain events, e.g. ``Order.Placed``."""
    aggregate = qualname.split(".", 1)[0]
    return f"domain.{aggregate.lower()}:{qualname}"
