"""The saga reacts to a section of upstream events in one transaction, each reaction seeing
what the ones before it changed; a refusal among them sends the section one event at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from application.base import TiffinProcess
from application.runtime import Runtime
from domain.order import Order, OrderStatus
from domain.payment import PaymentStatus
from domain.values import Role
from tests.scenario import SAGA, cause, courier_on_shift, open_kitchen, place
from wiring.bootstrap import Tiffin


@contextmanager
def transactions_of(app: TiffinProcess) -> Iterator[list[int]]:
    """How many events each of the app's transactions recorded, while the block runs."""
    recorded: list[int] = []
    insert = app.recorder.insert_events

    def counting(events: Any, **kwargs: Any) -> Any:
        recorded.append(len(events))
        return insert(events, **kwargs)

    app.recorder.insert_events = counting  # type: ignore[method-assign]
    try:
        yield recorded
    finally:
        del app.recorder.insert_events  # type: ignore[method-assign]


def test_orders_placed_together_get_their_payments_requested_in_one_transaction(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(5)]

    with transactions_of(tiffin.payments) as recorded:
        tiffin.payments.process_backlog(tiffin.ordering.name)

    assert recorded == [5]  # one Payment.Requested per order, one commit
    for order in orders:
        assert tiffin.payments.payment_of_order(order.id).status is PaymentStatus.PENDING
    assert tiffin.payments.process_backlog(tiffin.ordering.name) == 0  # nothing done twice


def test_each_reaction_in_a_section_sees_what_the_reactions_before_it_changed(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    payment = tiffin.payments.payment_of_order(order.id)
    tiffin.payments.capture_payment(payment.id, payment.amount, "UTR1", SAGA)
    saga.run_until_idle()
    tiffin.ordering.accept_order(order.id, 10, kitchen.owner)
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(order.id)
    tiffin.deliveries.pick_up(delivery.id, rider)
    tiffin.deliveries.deliver(delivery.id, rider)  # the order hears of both at once

    with transactions_of(tiffin.ordering) as recorded:
        tiffin.ordering.process_backlog(tiffin.deliveries.name)

    assert recorded == [3]  # ready, picked up, delivered: one order changed thrice, one commit
    assert tiffin.ordering.get_order(order.id).status is OrderStatus.DELIVERED


def test_a_refused_reaction_in_a_section_keeps_nothing_half_done_and_the_rest_still_happens(
    tiffin: Tiffin, saga: Runtime
) -> None:
    kitchen = open_kitchen(tiffin)
    cancelled, paid = (place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(2))
    tiffin.payments.process_backlog(tiffin.ordering.name)
    tiffin.ordering.cancel_order(cancelled.id, "changed my mind", cause(Role.CUSTOMER))
    for order in (cancelled, paid):  # the UPI app paid both, the cancelled one too
        payment = tiffin.payments.payment_of_order(order.id)
        tiffin.payments.capture_payment(payment.id, payment.amount, f"UTR-{order.id}", SAGA)

    with transactions_of(tiffin.ordering) as recorded:
        tiffin.ordering.process_backlog(tiffin.payments.name)

    assert recorded == [0, 1]  # one event at a time: the refused one records its position only
    assert _status(tiffin, cancelled) is OrderStatus.CANCELLED
    assert _status(tiffin, paid) is OrderStatus.PENDING_ACCEPTANCE
    assert tiffin.ordering.process_backlog(tiffin.payments.name) == 0


def _status(tiffin: Tiffin, order: Order) -> OrderStatus:
    return tiffin.ordering.get_order(order.id).status
