"""Placing an order with an idempotency key: a retry never makes a second order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest

from application.errors import IdempotencyKeyReused
from domain.restaurant import LineRequest
from domain.values import Role
from tests.scenario import HOME, cause, open_kitchen, place
from wiring.bootstrap import Tiffin

RETRIES = 20


def test_a_retried_placement_returns_the_order_placed_first(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    key = uuid4().hex

    first = place(tiffin, kitchen, customer, key)
    again = place(tiffin, kitchen, customer, key)

    assert again.id == first.id
    assert len(tiffin.ordering.history(first.id)) == 1


def test_the_same_key_from_another_customer_is_another_order(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    key = uuid4().hex

    mine = place(tiffin, kitchen, cause(Role.CUSTOMER), key)
    theirs = place(tiffin, kitchen, cause(Role.CUSTOMER), key)

    assert mine.id != theirs.id


def test_reusing_a_key_for_a_different_order_is_refused(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    key = uuid4().hex
    first = place(tiffin, kitchen, customer, key)

    with pytest.raises(IdempotencyKeyReused):
        tiffin.ordering.place_order(
            customer_id=customer.actor_id,
            restaurant_id=kitchen.restaurant.id,
            requests=[LineRequest(kitchen.coffee.id, 3)],
            delivery_address=HOME,
            payment_vpa="asha@okbank",
            cause=customer,
            idempotency_key=key,
        )

    assert tiffin.ordering.get_order(first.id).lines == first.lines


def test_twenty_concurrent_placements_with_one_key_make_one_order_and_one_event(
    tiffin: Tiffin,
) -> None:
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    key = uuid4().hex
    head = tiffin.ordering.recorder.max_notification_id() or 0

    with ThreadPoolExecutor(max_workers=RETRIES) as pool:
        orders = list(pool.map(lambda _: place(tiffin, kitchen, customer, key), range(RETRIES)))

    assert len({order.id for order in orders}) == 1
    assert len(tiffin.ordering.history(orders[0].id)) == 1
    new = tiffin.ordering.recorder.select_notifications(start=head + 1, limit=1000)
    assert [n.topic.rsplit(".", 1)[-1] for n in new] == ["Placed"]
