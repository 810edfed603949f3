"""The order document is written as prebuilt JSON (``document_response``), not through the
route's ``response_model``: it must be, byte for value, what pydantic would have sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from api.order_documents import document_response, order_document
from api.schemas.orders import OrderPublic
from application.ordering import MILESTONES
from domain.delivery import Delivery
from domain.order import DeliveryAddress, Order
from domain.restaurant import LineRequest
from domain.values import Cause, Location, Money, Role
from tests.unit.domain.aggregate_machine import online_restaurant

KITCHEN = Cause("owner-1", Role.RESTAURANT, "correlation-1")
CUSTOMER = Cause("customer-1", Role.CUSTOMER, "correlation-1")
TEXT = st.text(min_size=1, max_size=12).filter(str.strip)
TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2040, 1, 1),
    timezones=st.just(UTC),
) | st.builds(
    lambda seconds: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
    st.integers(0, 10**8),
)


def _order(prices: list[int], notes: str, line2: str, delivered: bool, rated: str | None) -> Order:
    restaurant = online_restaurant(KITCHEN)
    items = [
        restaurant.add_menu_item(name=f"dish {n} ✓", price=Money(price), cause=KITCHEN)
        for n, price in enumerate(prices)
    ]
    order = Order.place(
        customer_id=CUSTOMER.actor_id,
        restaurant=restaurant,
        requests=[LineRequest(item.id, n + 1, notes) for n, item in enumerate(items)],
        delivery_address=DeliveryAddress(
            "48 Residency Road", "Bengaluru", "560025", Location(12.9667, -77.6067), line2
        ),
        delivery_fee=Money(3000),
        payment_vpa="asha@okbank",
        cause=CUSTOMER,
    )
    if delivered:
        system = Cause("order-saga", Role.SYSTEM, "correlation-1")
        order.confirm_payment(system)
        order.accept(15, KITCHEN)
        order.mark_ready(KITCHEN)
        order.assign_courier("courier-7", system)
        order.mark_picked_up(system)
        order.mark_delivered(system)
        if rated is not None:
            order.rate(5, 4, rated, CUSTOMER)
    return order


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=4),
    notes=st.text(max_size=20),
    line2=st.text(max_size=20),
    delivered=st.booleans(),
    rated=st.none() | TEXT,
    times=st.dictionaries(st.sampled_from(sorted(MILESTONES.values())), TIMES),
    position=st.none() | st.integers(min_value=1, max_value=2**62),
)
def test_the_prebuilt_document_is_what_the_response_model_would_send(
    prices: list[int],
    notes: str,
    line2: str,
    delivered: bool,
    rated: str | None,
    times: dict[str, datetime],
    position: int | None,
) -> None:
    order = _order(prices, notes, line2, delivered, rated if delivered else None)
    delivery = None
    if delivered:
        where = order.delivery_address.location
        delivery = Delivery.request(order_id=order.id, pickup=where, dropoff=where, cause=KITCHEN)
    payment = (uuid4(), "captured" if delivered else "pending", "upi://pay?pa=tiffin@okbank")
    document = order_document(order, times, payment, delivery)
    response = document_response(document, 201, position)
    assert response.status_code == 201
    assert response.media_type == "application/json"
    answered: dict[str, Any] = {**document, **({} if position is None else {"position": position})}
    validated = OrderPublic.model_validate(answered).model_dump(mode="json")
    assert orjson.loads(response.body) == validated
