"""An order as apps see it: the order, its payment and its delivery, in one document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi.responses import Response

from api.schemas.common import location_out, money_out
from api.schemas.orders import Timestamps
from application.deliveries import Deliveries
from application.ordering import Ordering
from application.payments import Payments
from domain.delivery import Delivery, delivery_id_for
from domain.order import Order
from domain.payment import Payment

NO_MILESTONES: dict[str, datetime | None] = dict.fromkeys(Timestamps.model_fields)


def order_document(
    order: Order,
    milestones: dict[str, datetime],
    payment: tuple[Any, str, str],
    delivery: Delivery | None,
) -> dict[str, Any]:
    """``payment`` is (id, status, UPI URI): known from placement on, before the saga has
    requested it."""
    address = order.delivery_address
    payment_id, payment_status, upi_uri = payment
    rating = order.rating
    return {
        "id": order.id,
        "status": str(order.status),
        "customer_id": order.customer_id,
        "restaurant_id": order.restaurant_id,
        "courier_id": order.courier_id,
        "items": [
            {
                "menu_item_id": line.menu_item_id,
                "name": line.name,
                "unit_price": money_out(line.unit_price),
                "quantity": line.quantity,
                "notes": line.notes,
                "line_total": money_out(line.line_total),
            }
            for line in order.lines
        ],
        "subtotal": money_out(order.subtotal),
        "delivery_fee": money_out(order.delivery_fee),
        "total": money_out(order.total),
        "delivery_address": {
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "postal_code": address.postal_code,
            "location": location_out(address.location),
        },
        "payment": {"id": payment_id, "status": payment_status, "upi_uri": upi_uri},
        "delivery": None
        if delivery is None
        else {"id": delivery_id_for(order.id), "status": str(delivery.status)},
        "timestamps": {**NO_MILESTONES, **milestones},
        "rating": None
        if rating is None
        else {
            "restaurant_stars": rating.restaurant_stars,
            "courier_stars": rating.courier_stars,
            "comment": rating.comment,
        },
        "prep_minutes": order.prep_minutes,
        "closing_reason": order.closing_reason,
    }


def document_response(
    document: dict[str, Any], status_code: int = 200, position: int | None = None
) -> Response:
    """The document, with the ``position`` its change was recorded at (None: no change), as
    JSON written by orjson without a second validation: ``order_document`` builds exactly
    ``OrderPublic``'s shape (tests/unit/test_order_documents.py holds it to that), and
    pydantic's checking and encoding cost an order more than pricing it does."""
    body = orjson.dumps({**document, "position": position}, option=orjson.OPT_UTC_Z)
    return Response(body, status_code, media_type="application/json")


class OrderDocuments:
    """Orders as apps see them, read from the event store (so always exact)."""

    def __init__(self, ordering: Ordering, payments: Payments, deliveries: Deliveries) -> None:
        self.ordering = ordering
        self.payments = payments
        self.deliveries = deliveries

    def payment_of(self, order: Order) -> tuple[Any, str, str]:
        """The order's payment as (id, status, UPI URI)."""
        payment_id, upi_uri = self.payments.intent_for(order.id, order.total)
        payment = self.payments.lookup(Payment, payment_id)
        if payment is None:
            return payment_id, "pending", upi_uri
        return payment_id, str(payment.status), payment.upi_uri

    def load(self, order_id: Any) -> tuple[Order, dict[str, Any]]:
        """The order, and its document as it is now."""
        order, milestones = self.ordering.order_and_milestones(order_id)
        delivery = self.deliveries.lookup(Delivery, delivery_id_for(order.id))
        return order, order_document(order, milestones, self.payment_of(order), delivery)
