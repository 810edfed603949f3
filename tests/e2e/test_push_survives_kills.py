"""Push notifications through worker crashes: the worker is SIGKILLed while FCM holds its
answer to a message it has already delivered. The next worker sends that message again, with
the same collapse key, so every device still shows each order's status exactly once, and
nothing is lost.

Server mode, one `tiffin worker` at a time, pushing through the local FCM and token endpoint
(``tests.fakes.fcm``); the simulated gateway captures the payments by itself.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from application.devices import customer_party, restaurant_party
from domain.order import Order, OrderStatus
from domain.values import Role
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.fakes.fcm import FakeFcm, environ_for, running
from tests.polling import Seen, poll_until
from tests.scenario import cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

ORDERS = 6


def notification(message: dict[str, Any]) -> tuple[str, str]:
    """What a device shows one of: its token and the message's collapse key."""
    return message["token"], message["android"]["collapse_key"]


def kill_while_an_answer_is_held(fcm: FakeFcm, workers: Workers, after: int) -> None:
    """Holds FCM's answer to the message after the next ``after`` deliveries, kills the worker
    waiting for it, then lets the answer go (to nobody)."""
    fcm.held.clear()
    fcm.release.clear()
    fcm.hold_after = len(fcm.delivered) + after
    assert fcm.held.wait(60), "no message reached FCM"
    workers.kill(workers.newest)
    fcm.hold_after = None
    fcm.release.set()


def every_status_shown(fcm: FakeFcm, expected: dict[str, set[str]]) -> None:
    def shown(seen: Seen) -> bool | None:
        now = {device: set(fcm.shown(device)) for device in expected}
        seen.last = f"{sum(map(len, now.values()))} of {sum(map(len, expected.values()))}"
        return True if now == expected else None

    poll_until(shown, within=60.0, what="every notification shown", every=0.05)


def paid(tiffin: Tiffin, orders: list[Order]) -> None:
    def all_paid(seen: Seen) -> bool | None:
        statuses = [tiffin.ordering.get_order(order.id).status for order in orders]
        seen.last = str(Counter(statuses))
        return True if set(statuses) == {OrderStatus.PENDING_ACCEPTANCE} else None

    poll_until(all_paid, within=60.0, what="every order paid", every=0.05)


def test_each_status_shows_once_on_each_device_though_the_worker_dies_mid_send(
    postgres_url: str, tmp_path: Path
) -> None:
    with running(FakeFcm()) as fcm:
        environ = worker_environ(
            postgres_url,
            tmp_path / "var",
            TIFFIN_SIMULATED_CAPTURE_SECONDS="0.1",
            TIFFIN_WORKER_POLL_SECONDS="0.05",
            TIFFIN_WORK_LEASE_SECONDS="2",  # what a killed worker had claimed is due again soon
            **environ_for(fcm, tmp_path),
        )
        tiffin = bootstrap(settings_of(environ))  # the test's own process: the API's side
        workers = Workers(environ, tmp_path / "workers")
        try:
            kitchen = open_kitchen(tiffin)
            kitchen_tablet = f"tablet-{kitchen.restaurant.id}:APA91b"
            tiffin.devices().register(restaurant_party(kitchen.owner.actor_id), kitchen_tablet, 0)
            customers = [cause(Role.CUSTOMER) for _ in range(ORDERS)]
            phones = [f"phone-{c.actor_id}:APA91b" for c in customers]
            for customer, phone in zip(customers, phones, strict=True):
                tiffin.devices().register(customer_party(customer.actor_id), phone, time.time())
            workers.start()

            orders = [place(tiffin, kitchen, customer) for customer in customers]
            kill_while_an_answer_is_held(fcm, workers, after=3)
            paid(tiffin, orders)
            for order in orders:
                tiffin.ordering.accept_order(order.id, 12, kitchen.owner)
            kill_while_an_answer_is_held(fcm, workers, after=2)

            expected = {
                phone: {f"{order.id}:paid", f"{order.id}:accepted"}
                for phone, order in zip(phones, orders, strict=True)
            }
            expected[kitchen_tablet] = {f"{order.id}:paid" for order in orders}
            every_status_shown(fcm, expected)
        finally:
            workers.stop()
            tiffin.close()

    deliveries = Counter(map(notification, fcm.delivered))
    repeated = {key: n for key, n in deliveries.items() if n > 1}
    print(
        f"\npush under kills: {len(fcm.delivered)} messages delivered for {len(deliveries)} "
        f"notifications, {workers.kills} SIGKILLs mid-send, repeats {sorted(repeated.values())}"
    )
    assert len(deliveries) == 3 * ORDERS
    assert 1 <= len(repeated) <= workers.kills, "only the messages in flight at a kill repeat"
    for (device, collapse_key), _ in repeated.items():
        copies = [
            m
            for m in fcm.delivered
            if (m["token"], m["android"]["collapse_key"]) == (device, collapse_key)
        ]
        assert all(copy == copies[0] for copy in copies), "a repeat is the same message"
