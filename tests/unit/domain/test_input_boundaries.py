"""The numeric limits of the rules, each side of every edge, checked deterministically.

The state machines reach these edges at random; these tests pin them on every run.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.errors import (
    AmountMismatch,
    CurrencyMismatch,
    InvalidMoney,
    InvalidPrepMinutes,
    InvalidPrice,
    InvalidQuantity,
    InvalidStars,
    RefundExceedsCapture,
)
from domain.order import DeliveryAddress, Order
from domain.payment import Payment
from domain.restaurant import LineRequest, MenuItem, Restaurant
from domain.values import Location, Money, Role
from tests.unit.domain.aggregate_machine import cause, online_restaurant

OWNER = cause(Role.RESTAURANT, "owner-1")
CUSTOMER = cause(Role.CUSTOMER, "customer-1")
SAGA = cause(Role.SYSTEM, "order-saga")


def online_kitchen() -> tuple[Restaurant, MenuItem]:
    restaurant = online_restaurant(OWNER)
    return restaurant, restaurant.add_menu_item(name="dosa", price=Money(12_000), cause=OWNER)


def paid_order() -> Order:
    restaurant, dosa = online_kitchen()
    order = Order.place(
        customer_id=CUSTOMER.actor_id,
        restaurant=restaurant,
        requests=[LineRequest(dosa.id, 1)],
        delivery_address=DeliveryAddress("1 MG Road", "Bengaluru", "560001", Location(0, 0)),
        delivery_fee=Money(3_000),
        payment_vpa="asha@okbank",
        cause=CUSTOMER,
    )
    order.confirm_payment(SAGA)
    return order


def delivered_order() -> Order:
    order = paid_order()
    order.accept(10, OWNER)
    order.assign_courier("courier-1", SAGA)
    order.mark_ready(OWNER)
    order.mark_picked_up(SAGA)
    order.mark_delivered(SAGA)
    return order


@pytest.mark.parametrize("minor", [0, -1])
def test_a_menu_item_must_cost_more_than_nothing(minor: int) -> None:
    restaurant, dosa = online_kitchen()
    with pytest.raises(InvalidPrice):
        restaurant.add_menu_item(name="free", price=Money(minor), cause=OWNER)
    with pytest.raises(InvalidPrice):
        restaurant.change_menu_item(dosa.id, price=Money(minor), cause=OWNER)
    assert restaurant.add_menu_item(name="cheap", price=Money(1), cause=OWNER).price == Money(1)


@pytest.mark.parametrize("quantity", [0, 51])
def test_a_line_outside_1_to_50_of_an_item_is_refused(quantity: int) -> None:
    restaurant, dosa = online_kitchen()
    with pytest.raises(InvalidQuantity):
        restaurant.price_order([LineRequest(dosa.id, quantity)])


@pytest.mark.parametrize("quantity", [1, 50])
def test_a_line_of_1_to_50_of_an_item_is_priced(quantity: int) -> None:
    restaurant, dosa = online_kitchen()
    (line,) = restaurant.price_order([LineRequest(dosa.id, quantity)])
    assert line.line_total == Money(12_000 * quantity)


@pytest.mark.parametrize(("minutes", "allowed"), [(0, False), (1, True), (240, True), (241, False)])
def test_preparation_takes_from_1_to_240_minutes(minutes: int, allowed: bool) -> None:
    order = paid_order()
    if allowed:
        order.accept(minutes, OWNER)
        assert order.prep_minutes == minutes
    else:
        with pytest.raises(InvalidPrepMinutes):
            order.accept(minutes, OWNER)
        assert order.status == "pending_acceptance"


@pytest.mark.parametrize(("stars", "allowed"), [(0, False), (1, True), (5, True), (6, False)])
def test_stars_go_from_1_to_5_for_restaurant_and_courier(stars: int, allowed: bool) -> None:
    for restaurant_stars, courier_stars in ((stars, 3), (3, stars)):
        order = delivered_order()
        if allowed:
            order.rate(restaurant_stars, courier_stars, "", CUSTOMER)
            assert order.rating is not None
        else:
            with pytest.raises(InvalidStars):
                order.rate(restaurant_stars, courier_stars, "", CUSTOMER)
            assert order.rating is None


def test_the_whole_captured_amount_may_be_refunded_but_not_a_paisa_more() -> None:
    for minor, allowed in ((45_050, True), (45_051, False)):
        payment = Payment.request(
            order_id=UUID(int=1),
            amount=Money(45_050),
            vpa="asha@okbank",
            upi_uri="upi://pay",
            cause=SAGA,
        )
        payment.capture(Money(45_050), "UTR-1", SAGA)
        if allowed:
            payment.request_refund(Money(minor), "cold food", SAGA)
            assert payment.refund is not None
        else:
            with pytest.raises(RefundExceedsCapture):
                payment.request_refund(Money(minor), "cold food", SAGA)
            assert payment.refund is None


def place_with(restaurant: Restaurant, items: list[MenuItem], delivery_fee: Money) -> Order:
    return Order.place(
        customer_id=CUSTOMER.actor_id,
        restaurant=restaurant,
        requests=[LineRequest(item.id, 1) for item in items],
        delivery_address=DeliveryAddress("1 MG Road", "Bengaluru", "560001", Location(0, 0)),
        delivery_fee=delivery_fee,
        payment_vpa="asha@okbank",
        cause=CUSTOMER,
    )


def test_an_order_mixing_currencies_is_refused_before_any_event() -> None:
    restaurant, dosa = online_kitchen()
    burger = restaurant.add_menu_item(name="burger", price=Money(500, "USD"), cause=OWNER)

    with pytest.raises(CurrencyMismatch):
        place_with(restaurant, [dosa, burger], Money(3_000))
    with pytest.raises(CurrencyMismatch):
        place_with(restaurant, [dosa], Money(300, "USD"))
    assert place_with(restaurant, [burger], Money(300, "USD")).total == Money(800, "USD")


def test_a_negative_delivery_fee_is_refused_and_a_free_delivery_is_fine() -> None:
    restaurant, dosa = online_kitchen()

    with pytest.raises(InvalidMoney):
        place_with(restaurant, [dosa], Money(-1))
    assert place_with(restaurant, [dosa], Money(0)).total == Money(12_000)


@pytest.mark.parametrize("off_by", [-1, 1])
def test_a_refund_is_completed_only_for_the_amount_requested(off_by: int) -> None:
    payment = Payment.request(
        order_id=UUID(int=7),
        amount=Money(31_550),
        vpa="asha@okbank",
        upi_uri="upi://pay",
        cause=SAGA,
    )
    payment.capture(Money(31_550), "UTR1", SAGA)
    payment.request_refund(Money(10_000), "one dosa missing", SAGA)

    with pytest.raises(AmountMismatch):
        payment.complete_refund(Money(10_000 + off_by), "RF1", SAGA)
    payment.complete_refund(Money(10_000), "RF1", SAGA)
    assert payment.refunds[0].gateway_ref == "RF1"
