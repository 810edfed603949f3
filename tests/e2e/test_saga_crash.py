"""Exactly once under crashes: orders flow while `tiffin worker` processes are SIGKILLed.

Two workers run every saga component against PostgreSQL (one owns each component, the other
stands by). A killer thread SIGKILLs one of them at random moments and starts a new one. The
test itself plays every party: customers, restaurant, couriers, and the UPI gateway (a local
HTTP server that records the calls, answered by signed webhooks). At the end every order must
be in the final state its script leads to, with no refund twice, no courier double-booked and
no saga step taken twice.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from redis import Redis

from application.errors import NotFound
from domain.errors import DomainError
from domain.order import Order, OrderStatus
from domain.payment import PaymentStatus
from domain.values import Role
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.fakes.upi_gateway import FakeGateway
from tests.scenario import Kitchen, cause, courier_on_shift, gateway_says, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

ORDERS = 200
KILLS = 20
COURIERS = 10
GIVE_UP_SECONDS = 300
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FATES = ("fails", "rejected", "customer cancels", "admin cancels", "delivered", "delivered")
FINAL = {
    "fails": (OrderStatus.CANCELLED, PaymentStatus.FAILED, 0),
    "rejected": (OrderStatus.REJECTED, PaymentStatus.REFUNDED, 1),
    "customer cancels": (OrderStatus.CANCELLED, PaymentStatus.REFUNDED, 1),
    "admin cancels": (OrderStatus.CANCELLED, PaymentStatus.REFUNDED, 1),
    "delivered": (OrderStatus.DELIVERED, PaymentStatus.CAPTURED, 0),
}


@pytest.fixture
def environ(postgres_url: str, tmp_path: Path, gateway: FakeGateway) -> Iterator[dict[str, str]]:
    prefix = f"test-{uuid4().hex[:8]}:"
    yield worker_environ(
        postgres_url,
        tmp_path / "var",
        TIFFIN_REDIS_URL=REDIS_URL,
        TIFFIN_REDIS_PREFIX=prefix,
        TIFFIN_PAYMENT_GATEWAY="http",
        TIFFIN_PAYMENT_GATEWAY_URL=gateway.url,
        TIFFIN_PAYMENT_GATEWAY_KEY=gateway.api_key,
        TIFFIN_ASSIGNMENT_RETRY_SECONDS="0.3",
        TIFFIN_WORKER_POLL_SECONDS="0.05",
    )
    client = Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@dataclass
class Parties:
    """Customers, restaurant, couriers and the gateway, each doing its next step when due."""

    tiffin: Tiffin
    gateway: FakeGateway
    kitchen: Kitchen
    couriers: list[UUID]
    fates: dict[str, str] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    webhooks_sent: set[str] = field(default_factory=set)

    def place(self) -> None:
        order = place(self.tiffin, self.kitchen, cause(Role.CUSTOMER))
        self.fates[str(order.id)] = FATES[len(self.orders) % len(FATES)]
        self.orders.append(order)

    def act(self, order: Order) -> bool:
        """The next step of this order's script, if it is due; True when the order is done."""
        tiffin, fate = self.tiffin, self.fates[str(order.id)]
        order = tiffin.ordering.get_order(order.id)
        try:
            payment = tiffin.payments.payment_of_order(order.id)
        except NotFound:
            return False  # the saga has not requested it yet
        collects = self.gateway.calls("/v1/collects")
        if payment.status is PaymentStatus.PENDING and str(payment.id) in collects:
            kind = "payment.failed" if fate == "fails" else "payment.captured"
            self.gateway_once(payment.id, kind)
        elif (
            payment.status is PaymentStatus.REFUND_PENDING
            and f"{payment.id}:refund" in self.gateway.calls("/v1/refunds")
        ):
            self.gateway_once(payment.id, "refund.processed")
        match order.status, fate:
            case OrderStatus.PENDING_ACCEPTANCE, "rejected":
                tiffin.ordering.reject_order(order.id, "out of rice", self.kitchen.owner)
            case OrderStatus.PENDING_ACCEPTANCE, "customer cancels":
                tiffin.ordering.cancel_order(order.id, "ordered twice", cause(Role.CUSTOMER))
            case OrderStatus.PENDING_ACCEPTANCE, _:
                tiffin.ordering.accept_order(order.id, 10, self.kitchen.owner)
            case OrderStatus.ACCEPTED, "admin cancels" if order.courier_id:
                tiffin.ordering.cancel_order(order.id, "kitchen fire", cause(Role.ADMIN))
            case OrderStatus.ACCEPTED | OrderStatus.READY_FOR_PICKUP, _ if order.courier_id:
                delivery = tiffin.deliveries.delivery_of_order(order.id)
                tiffin.deliveries.pick_up(delivery.id, cause(Role.COURIER))
            case OrderStatus.PICKED_UP, _:
                delivery = tiffin.deliveries.delivery_of_order(order.id)
                tiffin.deliveries.deliver(delivery.id, cause(Role.COURIER))
        expected_order, expected_payment, _ = FINAL[fate]
        return order.status is expected_order and payment.status is expected_payment

    def gateway_once(self, payment_id: UUID, kind: str) -> None:
        if f"{payment_id}:{kind}" not in self.webhooks_sent:
            payment = self.tiffin.payments.get_payment(payment_id)
            gateway_says(self.tiffin, payment, kind, event_id=f"evt-{kind}-{payment_id}")
            self.webhooks_sent.add(f"{payment_id}:{kind}")


def test_orders_reach_their_right_end_while_workers_are_killed_again_and_again(
    environ: dict[str, str], gateway: FakeGateway, tmp_path: Path
) -> None:
    rng = random.Random(20261123)
    tiffin = bootstrap(settings_of(environ))  # the test's own process: the API's side
    workers = Workers(environ, tmp_path / "workers")
    done = threading.Event()

    def killer() -> None:
        while not done.wait(rng.uniform(0.3, 1.5)):
            workers.kill_one(rng)
            # the next kill counts from when its replacement runs: a worker takes seconds to
            # start on a busy machine, and kills faster than that would leave nobody working
            workers.wait_running(workers.newest, timeout=120)

    try:
        kitchen = open_kitchen(tiffin)
        couriers = [courier_on_shift(tiffin)[0].id for _ in range(COURIERS)]
        parties = Parties(tiffin, gateway, kitchen, couriers)
        workers.start()
        workers.start()
        killing = threading.Thread(target=killer, daemon=True)
        killing.start()
        finished: set[str] = set()
        give_up = time.monotonic() + GIVE_UP_SECONDS
        while len(finished) < ORDERS or workers.kills < KILLS:
            assert killing.is_alive(), "the killer failed (see the thread's exception above)"
            assert time.monotonic() < give_up, (
                f"{len(finished)}/{ORDERS} orders finished, {workers.kills} kills; "
                f"see {workers.logs}"
            )
            for _ in range(min(10, ORDERS - len(parties.orders))):
                parties.place()
            for order in parties.orders:
                if str(order.id) in finished:
                    continue
                try:
                    if parties.act(order):
                        finished.add(str(order.id))
                except DomainError:
                    continue  # the saga moved the order on meanwhile: look again next round
            done.wait(0.05)  # polling other processes' progress, as any client of theirs does
        done.set()
        killing.join()
    finally:
        done.set()
        workers.stop()

    assert workers.kills >= KILLS
    check_final_states(tiffin, parties)
    tiffin.close()
    takeovers = workers.log_text().count("took over")
    print(
        f"\ncrash test: {len(parties.orders)} orders, {workers.kills} SIGKILLs, "
        f"{takeovers} component takeovers, {Counter(parties.fates.values())}, "
        f"{sum(parties.gateway.calls('/v1/collects').values())} collect calls for "
        f"{len(parties.orders)} payments, duplicate saga steps 0"
    )


def check_final_states(tiffin: Tiffin, parties: Parties) -> None:
    refund_calls = parties.gateway.calls("/v1/refunds")
    collect_calls = parties.gateway.calls("/v1/collects")
    for order in parties.orders:
        fate = parties.fates[str(order.id)]
        expected_order, expected_payment, refunds = FINAL[fate]
        final = tiffin.ordering.get_order(order.id)
        payment = tiffin.payments.payment_of_order(order.id)
        assert (final.status, payment.status) == (expected_order, expected_payment), fate
        order_events = Counter(type(e).__name__ for e in tiffin.ordering.history(order.id))
        assert max(order_events.values()) == 1, f"a saga step taken twice: {order_events}"
        payment_events = Counter(type(e).__name__ for e in tiffin.payments.history(payment.id))
        assert payment_events["RefundRequested"] == refunds
        assert payment_events["Refunded"] == refunds
        assert max(payment_events.values()) == 1, payment_events
        assert str(payment.id) in collect_calls, "every payment's collect call was made"
        assert (f"{payment.id}:refund" in refund_calls) == bool(refunds)
    for courier_id in parties.couriers:
        taken = [
            type(e).__name__
            for e in tiffin.deliveries.history(courier_id)
            if type(e).__name__ in ("DeliveryTaken", "DeliveryReleased")
        ]
        assert taken == ["DeliveryTaken", "DeliveryReleased"] * (len(taken) // 2), (
            "a courier carried two deliveries at once"
        )
