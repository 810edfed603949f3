"""Couriers are assigned by the saga: nearest free courier first, never two active deliveries,
waiting deliveries retried as couriers free up; even two processors at once double-book no one."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from eventsourcing.persistence import IntegrityError

from application.runtime import Runtime, SagaStep
from application.settings import Settings
from domain.delivery import DeliveryStatus
from domain.order import Order
from domain.values import Cause, Role
from tests.scenario import ManualClock, cause, courier_on_shift, gateway_says, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

ORDERS, COURIERS = 50, 10


def paid_orders(tiffin: Tiffin, saga: Runtime, count: int) -> list[Order]:
    kitchen = open_kitchen(tiffin)
    orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(count)]
    saga.run_until_idle()
    for order in orders:
        gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()
    return orders


def active_loads(tiffin: Tiffin, orders: list[Order]) -> Counter[str]:
    """How many deliveries each courier is carrying now (assigned or picked up)."""
    active = (DeliveryStatus.ASSIGNED, DeliveryStatus.PICKED_UP)
    deliveries = [tiffin.deliveries.delivery_of_order(order.id) for order in orders]
    return Counter(d.courier_id for d in deliveries if d.status in active and d.courier_id)


def test_fifty_orders_accepted_at_once_share_ten_couriers_one_delivery_each_at_a_time(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock
) -> None:
    couriers = [courier_on_shift(tiffin) for _ in range(COURIERS)]
    orders = paid_orders(tiffin, saga, ORDERS)
    owner = cause(Role.RESTAURANT)
    for order in orders:
        tiffin.ordering.accept_order(order.id, 10, owner)
    saga.run_until_idle()

    delivered_by: Counter[str] = Counter()
    for _ in range(ORDERS // COURIERS):
        loads = active_loads(tiffin, orders)
        assert sorted(loads.values()) == [1] * COURIERS, "everyone busy, nobody twice"
        for courier, rider in couriers:
            delivery_id = tiffin.deliveries.get_courier(courier.id).active_delivery_id
            assert delivery_id is not None
            tiffin.deliveries.pick_up(delivery_id, rider)
            tiffin.deliveries.deliver(delivery_id, rider)
            delivered_by[str(courier.id)] += 1
        clock.advance(tiffin.settings.assignment_retry_seconds)
        saga.run_until_idle()

    statuses = {tiffin.deliveries.delivery_of_order(o.id).status for o in orders}
    assert statuses == {DeliveryStatus.DELIVERED}
    assert delivered_by == Counter({str(c.id): ORDERS // COURIERS for c, _ in couriers})
    assert all(tiffin.deliveries.get_courier(c.id).available for c, _ in couriers)
    assert {tiffin.ordering.get_order(o.id).status for o in orders} == {"delivered"}


def test_a_courier_off_shift_or_without_a_known_position_is_not_assigned(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock
) -> None:
    resting, rider = courier_on_shift(tiffin)
    tiffin.deliveries.set_on_shift(resting.id, False, rider)
    unlocated = tiffin.deliveries.register_courier(
        owner_id="rider-nowhere", name="Anil", vehicle_type="bicycle", cause=rider
    ).value
    tiffin.deliveries.set_on_shift(unlocated.id, True, Cause("rider-nowhere", Role.COURIER, "t"))
    [order] = paid_orders(tiffin, saga, 1)
    tiffin.ordering.accept_order(order.id, 10, cause(Role.RESTAURANT))
    saga.run_until_idle()
    assert tiffin.deliveries.delivery_of_order(order.id).status is DeliveryStatus.REQUESTED

    tiffin.deliveries.set_on_shift(resting.id, True, rider)
    saga.run_until_idle()
    assert tiffin.deliveries.delivery_of_order(order.id).status is DeliveryStatus.REQUESTED, (
        "a waiting delivery is retried when its retry falls due"
    )
    clock.advance(tiffin.settings.assignment_retry_seconds)
    saga.run_until_idle()

    assert tiffin.deliveries.delivery_of_order(order.id).courier_id == str(resting.id)


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_two_delivery_processors_running_at_once_still_give_no_courier_two_deliveries(
    tiffin: Tiffin, saga: Runtime, settings: Settings, clock: ManualClock
) -> None:
    """Leadership keeps one processor per component; this shows the store's guard holds even
    when two run at once (say, a paused owner waking after a standby took over)."""
    couriers = [courier_on_shift(tiffin)[0] for _ in range(COURIERS)]
    orders = paid_orders(tiffin, saga, ORDERS)
    owner = cause(Role.RESTAURANT)
    for order in orders:
        tiffin.ordering.accept_order(order.id, 10, owner)

    twins = [bootstrap(settings, clock=clock) for _ in range(2)]
    for twin in twins:
        twin.locations = tiffin.locations
        twin.deliveries.locations = tiffin.locations
    steps = [SagaStep(t.deliveries, [t.ordering]) for t in twins]
    conflicts: list[BaseException] = []

    def process(step: SagaStep) -> None:
        for _ in range(200):  # conflicts with the twin are retried, as a worker's next pass would
            try:
                if not step.run_once():
                    return
            except Exception as conflict:
                conflicts.append(conflict)

    threads = [threading.Thread(target=process, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for twin in twins:
        twin.close()
    assert all(isinstance(c, IntegrityError) for c in conflicts), "only refused writes"

    loads = active_loads(tiffin, orders)
    assert sorted(loads.values()) == [1] * COURIERS
    for courier in couriers:
        taken = [
            type(e).__name__
            for e in tiffin.deliveries.history(courier.id)
            if type(e).__name__ in ("DeliveryTaken", "DeliveryReleased")
        ]
        assert taken == ["DeliveryTaken"], "each courier took exactly one delivery"
    requested = [
        tiffin.deliveries.history(tiffin.deliveries.delivery_of_order(o.id).id) for o in orders
    ]
    assert all(type(h[0]).__name__ == "Requested" for h in requested)
    assert all(sum(type(e).__name__ == "Assigned" for e in h) <= 1 for h in requested)
