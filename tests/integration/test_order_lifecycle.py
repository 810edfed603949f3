"""The applications drive an order through its life, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from uuid import uuid4

import pytest

from application.errors import NotFound
from application.history import order_history
from application.results import Changed
from application.runtime import Runtime
from domain.errors import (
    IllegalTransition,
    MenuItemUnavailable,
    OrderNotCancellable,
    RestaurantOffline,
    UnknownMenuItem,
)
from domain.order import Order, OrderStatus
from domain.payment import PaymentStatus
from domain.restaurant import LineRequest
from domain.values import Money, Role
from tests.scenario import (
    DELIVERED_ORDER_EVENTS,
    HOME,
    SAGA,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    place,
)
from wiring.bootstrap import Tiffin


def deliver(tiffin: Tiffin, saga: Runtime) -> tuple[str, Changed[Order]]:
    """One order from placement to rating: each party does its part, the saga the rest."""
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    courier, rider = courier_on_shift(tiffin)
    order = place(tiffin, kitchen, customer)
    saga.run_until_idle()
    gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()
    tiffin.ordering.accept_order(order.id, 12, kitchen.owner)
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(order.id)
    assert delivery.courier_id == str(courier.id)
    tiffin.ordering.mark_ready(order.id, kitchen.owner)
    tiffin.deliveries.pick_up(delivery.id, rider)
    saga.run_until_idle()
    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()
    rated = tiffin.ordering.rate_order(
        order.id, restaurant_stars=5, courier_stars=4, cause=customer
    )
    return customer.actor_id, rated


def test_an_order_is_placed_paid_accepted_delivered_and_rated(
    tiffin: Tiffin, saga: Runtime
) -> None:
    customer_id, rated = deliver(tiffin, saga)
    order = tiffin.ordering.get_order(rated.value.id)

    assert order.status is OrderStatus.DELIVERED
    assert order.customer_id == customer_id
    assert order.total == Money.parse("315.50")
    assert order.rating is not None
    assert order.rating.courier_stars == 4
    assert rated.position is not None
    assert rated.position > 0
    assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.CAPTURED


def test_an_orders_history_names_every_event_its_actor_and_correlation_in_order(
    tiffin: Tiffin, saga: Runtime
) -> None:
    customer_id, rated = deliver(tiffin, saga)
    order_id = rated.value.id

    history = order_history(tiffin.ordering, tiffin.payments, tiffin.deliveries, order_id)

    assert tuple(e.type for e in history if e.stream == "order") == DELIVERED_ORDER_EVENTS
    assert {e.stream for e in history} == {"order", "payment", "delivery"}
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert history[0].actor_id == customer_id
    assert history[0].actor_role == "customer"
    assert all(e.correlation_id for e in history)


def test_lines_are_priced_from_the_menu_when_the_order_is_placed(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))

    tiffin.restaurants.change_menu_item(
        kitchen.restaurant.id, kitchen.dosa.id, price=Money.parse("150.00"), cause=kitchen.owner
    )

    reloaded = tiffin.ordering.get_order(order.id)
    assert reloaded.lines[0].unit_price == Money.parse("120.00")
    assert reloaded.subtotal == Money.parse("285.50")
    assert reloaded.total == reloaded.subtotal + tiffin.ordering.delivery_fee


@pytest.mark.parametrize(
    ("spoil", "error"),
    [
        ("offline", RestaurantOffline),
        ("unavailable", MenuItemUnavailable),
        ("removed", UnknownMenuItem),
    ],
)
def test_an_order_the_menu_cannot_serve_is_refused_and_nothing_is_stored(
    tiffin: Tiffin, spoil: str, error: type[Exception]
) -> None:
    kitchen = open_kitchen(tiffin)
    restaurant_id, owner = kitchen.restaurant.id, kitchen.owner
    if spoil == "offline":
        tiffin.restaurants.set_online(restaurant_id, False, owner)
    elif spoil == "unavailable":
        tiffin.restaurants.change_menu_item(
            restaurant_id, kitchen.dosa.id, available=False, cause=owner
        )
    else:
        tiffin.restaurants.remove_menu_item(restaurant_id, kitchen.dosa.id, owner)
    head = tiffin.ordering.recorder.max_notification_id()

    with pytest.raises(error):
        place(tiffin, kitchen, cause(Role.CUSTOMER))

    assert tiffin.ordering.recorder.max_notification_id() == head


def test_accepting_a_cancelled_order_is_a_conflict(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    order = place(tiffin, kitchen, customer)
    tiffin.ordering.cancel_order(order.id, "changed my mind", customer)

    with pytest.raises(IllegalTransition, match="cannot accept the order: it is cancelled"):
        tiffin.ordering.accept_order(order.id, 10, kitchen.owner)

    assert tiffin.ordering.get_order(order.id).status is OrderStatus.CANCELLED


def test_a_customer_cannot_cancel_an_accepted_order_but_the_restaurant_can(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    order = place(tiffin, kitchen, customer)
    tiffin.ordering.confirm_payment(order.id, SAGA)
    tiffin.ordering.accept_order(order.id, 10, kitchen.owner)

    with pytest.raises(OrderNotCancellable):
        tiffin.ordering.cancel_order(order.id, "too slow", customer)
    tiffin.ordering.cancel_order(order.id, "out of batter", kitchen.owner)

    assert tiffin.ordering.get_order(order.id).closing_reason == "out of batter"


def test_an_order_can_be_read_as_it_was_at_an_earlier_version(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    tiffin.ordering.confirm_payment(order.id, SAGA)
    tiffin.ordering.accept_order(order.id, 10, kitchen.owner)

    assert tiffin.ordering.get_order(order.id, version=1).status is OrderStatus.AWAITING_PAYMENT
    assert tiffin.ordering.get_order(order.id, version=2).status is OrderStatus.PENDING_ACCEPTANCE
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.ACCEPTED


def test_looking_up_an_unknown_or_foreign_id_is_not_found(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)

    with pytest.raises(NotFound):
        tiffin.ordering.get_order(uuid4())
    with pytest.raises(NotFound):
        tiffin.deliveries.get_courier(kitchen.restaurant.id)


def test_ordering_refuses_quantities_outside_one_to_fifty(tiffin: Tiffin) -> None:
    kitchen = open_kitchen(tiffin)
    customer = cause(Role.CUSTOMER)
    for quantity in (0, 51):
        with pytest.raises(Exception, match="quantity must be between 1 and 50"):
            tiffin.ordering.place_order(
                customer_id=customer.actor_id,
                restaurant_id=kitchen.restaurant.id,
                requests=[LineRequest(kitchen.dosa.id, quantity)],
                delivery_address=HOME,
                payment_vpa="asha@okbank",
                cause=customer,
            )
