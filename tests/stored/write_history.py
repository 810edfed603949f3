"""Writes a data directory holding every kind of stored event, and a manifest of what it holds.

Run once by each version whose stored data later versions must read:
``python -m tests.stored.write_history tests/stored/<version>``. The files it leaves (the
applications' SQLite event stores and ``manifest.json``) are committed; ``test_stored_data``
opens them with the code of today and replays them.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

from application.settings import load_settings
from domain.courier import Courier
from domain.delivery import Delivery, delivery_id_for
from domain.order import Order
from domain.payment import Payment, payment_id_for
from domain.values import Money, Role
from tests.scenario import (
    ADMIN,
    ManualClock,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    place,
)
from wiring.bootstrap import Tiffin, bootstrap

EVENT_STORES = ("restaurants", "ordering", "payments", "deliveries")


def play(tiffin: Tiffin, clock: ManualClock) -> list[Order]:
    """Orders down every path the saga knows, and the changes of restaurants and couriers."""
    saga = tiffin.runtime()
    kitchen = open_kitchen(tiffin)
    restaurants = tiffin.restaurants
    restaurants.change_menu_item(
        kitchen.restaurant.id, kitchen.coffee.id, cause=kitchen.owner, price=Money.parse("50.00")
    )
    snack = restaurants.add_menu_item(
        kitchen.restaurant.id, name="Vada", price=Money.parse("40.00"), cause=kitchen.owner
    ).value
    restaurants.remove_menu_item(kitchen.restaurant.id, snack.id, kitchen.owner)
    courier, rider = courier_on_shift(tiffin)
    orders: list[Order] = []

    def placed(key: str | None = None) -> Order:
        order = place(tiffin, kitchen, cause(Role.CUSTOMER), key)
        saga.run_until_idle()
        orders.append(order)
        return order

    def paid(order: Order) -> Payment:
        payment = tiffin.payments.get_payment(payment_id_for(order.id))
        gateway_says(tiffin, payment, "payment.captured")
        saga.run_until_idle()
        return payment

    delivered = placed("delivered-and-rated")
    paid(delivered)
    tiffin.ordering.accept_order(delivered.id, 12, kitchen.owner)
    saga.run_until_idle()
    tiffin.ordering.mark_ready(delivered.id, kitchen.owner)
    delivery_id = delivery_id_for(delivered.id)
    tiffin.deliveries.pick_up(delivery_id, rider)
    saga.run_until_idle()
    tiffin.deliveries.deliver(delivery_id, rider)
    saga.run_until_idle()
    tiffin.ordering.rate_order(
        delivered.id,
        restaurant_stars=5,
        courier_stars=4,
        comment="crisp",
        cause=cause(Role.CUSTOMER, delivered.customer_id),
    )

    cancelled = placed()
    tiffin.ordering.cancel_order(
        cancelled.id, "changed my mind", cause(Role.CUSTOMER, cancelled.customer_id)
    )
    saga.run_until_idle()

    rejected = placed()
    refunded = paid(rejected)
    tiffin.ordering.reject_order(rejected.id, "out of dosa batter", kitchen.owner)
    saga.run_until_idle()
    gateway_says(tiffin, tiffin.payments.get_payment(refunded.id), "refund.processed")
    saga.run_until_idle()

    declined = placed()
    gateway_says(tiffin, tiffin.payments.get_payment(payment_id_for(declined.id)), "payment.failed")
    saga.run_until_idle()

    unassigned = placed()
    paid(unassigned)
    tiffin.ordering.accept_order(unassigned.id, 20, kitchen.owner)
    saga.run_until_idle()
    tiffin.deliveries.unassign_courier(delivery_id_for(unassigned.id), "flat tyre", rider)
    saga.run_until_idle()
    tiffin.ordering.cancel_order(unassigned.id, "kitchen closing", ADMIN)
    saga.run_until_idle()

    expired = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    clock.advance(tiffin.settings.payment_expiry_seconds + 1)
    saga.run_until_idle()
    saga.stop()
    orders.append(expired)

    restaurants.set_online(kitchen.restaurant.id, False, kitchen.owner)
    tiffin.deliveries.set_on_shift(courier.id, False, rider)
    return orders


def order_state(tiffin: Tiffin, order_id: UUID) -> dict[str, Any]:
    """An order, its payment and its delivery as the manifest describes them."""
    order = tiffin.ordering.get_order(order_id)
    payment = tiffin.payments.lookup(Payment, payment_id_for(order_id))
    delivery = tiffin.deliveries.lookup(Delivery, delivery_id_for(order_id))
    return {
        "status": str(order.status),
        "version": order.version,
        "total_minor": order.total.minor,
        "payment_status": None if payment is None else str(payment.status),
        "delivery_status": None if delivery is None else str(delivery.status),
    }


def manifest_of(tiffin: Tiffin, orders: list[Order]) -> dict[str, Any]:
    """What the stores hold, as the writing version saw it."""
    topics: dict[str, dict[str, int]] = {}
    for app in tiffin.apps():
        notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
        topics[app.name] = dict(sorted(Counter(n.topic for n in notifications).items()))
    described = {str(order.id): order_state(tiffin, order.id) for order in orders}
    couriers = {
        n.originator_id
        for n in tiffin.deliveries.recorder.select_notifications(start=1, limit=1_000_000)
        if n.topic.startswith("domain.courier:")
    }
    on_shift = {str(c): tiffin.deliveries.load(Courier, UUID(str(c))).on_shift for c in couriers}
    return {"topics": topics, "orders": described, "couriers_on_shift": on_shift}


def main(target: str) -> int:
    folder = Path(target)
    if folder.exists():
        shutil.rmtree(folder)
    data_dir = folder / "data"
    settings = load_settings(
        {"TIFFIN_DATA_DIR": str(data_dir), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
    )
    clock = ManualClock()
    with bootstrap(settings, clock=clock) as tiffin:
        orders = play(tiffin, clock)
        manifest = manifest_of(tiffin, orders)
    for path in data_dir.iterdir():  # only the event stores: views and secrets are not history
        if path.name.removesuffix(".sqlite3") not in EVENT_STORES:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"wrote {folder}: {sum(sum(t.values()) for t in manifest['topics'].values())} events")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
