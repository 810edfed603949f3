"""Read models under crashes: the projector worker is SIGKILLed again and again as events arrive.

One `tiffin worker` runs every projection of the registry against PostgreSQL and Redis (the
key-value views). A killer thread
SIGKILLs it at random moments (in its start-up, in the backlog that piled up while it was down,
inside a view's transaction) and starts another. Meanwhile the test plays every party
(customers, restaurants, couriers, the UPI gateway) and runs the saga in its own process, so
every log keeps growing, now and then in bursts. At the end a last worker catches up, and every
view must hold exactly what a replay of the same logs into a brand-new schema (or Redis key
prefix) holds, its position at the head of each log, nothing parked.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg

from application.runtime import Runtime
from domain.courier import Courier
from domain.values import Cause, Money, Role
from projections.registry import EVERY_VIEW, HOT_VIEWS, PROJECTIONS
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.redis_server import REDIS_URL, scratch_prefix
from tests.scenario import SAGA, Kitchen, cause, courier_on_shift, gateway_says, open_kitchen, place
from tests.view_digest import view_digest
from tests.view_replay import caught_up, hot_views, replayed_hot_views, replayed_views
from wiring.bootstrap import Tiffin, bootstrap
from wiring.workers import projector

KILLS = 50
KITCHENS = 3
COURIERS = 6  # and as many orders in each wave, so that each finds a courier free
BURST = 60  # orders placed at once every BURST_EVERY rounds
BURST_EVERY = 4
GIVE_UP_SECONDS = 120
CATCH_UP_SECONDS = 60
FATES = (
    "delivered",
    "delivered",
    "courier swapped",
    "rejected",
    "customer cancels",
    "payment fails",
    "admin cancels",
)
REFUNDED = ("rejected", "customer cancels", "admin cancels")
SAGA_STEPS = ["ordering", "payments", "deliveries"]
WORKER_APPLICATION_NAME = "tiffin-projection-crash-worker"


@dataclass
class Placed:
    order_id: UUID
    kitchen: Kitchen
    customer: Cause
    fate: str


@dataclass
class Traffic:
    """Every party doing its part, with the saga run in this process: events for every log."""

    tiffin: Tiffin
    saga: Runtime
    rng: random.Random
    kitchens: list[Kitchen]
    couriers: list[tuple[Courier, Cause]]
    rounds: int = 0
    orders: int = 0

    def round(self) -> None:
        self.rounds += 1
        if self.rounds % BURST_EVERY == 0:
            self.burst()
        else:
            self.wave()
        self.menus_and_shifts()

    def place(self) -> Placed:
        kitchen, customer = self.rng.choice(self.kitchens), cause(Role.CUSTOMER)
        order = place(self.tiffin, kitchen, customer)
        self.orders += 1
        return Placed(order.id, kitchen, customer, self.rng.choice(FATES))

    def wave(self) -> None:
        """As many orders as there are couriers, each taken to the end its fate leads to."""
        tiffin, saga = self.tiffin, self.saga
        wave = [self.place() for _ in self.couriers]
        saga.run_until_idle()  # payments requested
        for order in wave:
            kind = "payment.failed" if order.fate == "payment fails" else "payment.captured"
            gateway_says(tiffin, tiffin.payments.payment_of_order(order.order_id), kind)
        saga.run_until_idle()  # orders paid (or cancelled)
        for order in wave:
            owner = order.kitchen.owner
            if order.fate == "rejected":
                tiffin.ordering.reject_order(order.order_id, "out of rice", owner)
            elif order.fate == "customer cancels":
                tiffin.ordering.cancel_order(order.order_id, "ordered twice", order.customer)
            elif order.fate != "payment fails":
                tiffin.ordering.accept_order(order.order_id, self.rng.randint(5, 40), owner)
        saga.run_until_idle()  # deliveries requested, couriers assigned; refunds requested
        for order in wave:
            if order.fate == "admin cancels":
                tiffin.ordering.cancel_order(order.order_id, "kitchen fire", cause(Role.ADMIN))
            elif order.fate in ("delivered", "courier swapped"):
                self.deliver(order)
        saga.run_until_idle()  # orders picked up and delivered; deliveries cancelled
        for order in wave:
            if order.fate in ("delivered", "courier swapped"):
                tiffin.ordering.rate_order(
                    order.order_id,
                    restaurant_stars=self.rng.randint(1, 5),
                    courier_stars=self.rng.randint(1, 5),
                    cause=order.customer,
                )
            elif order.fate in REFUNDED:
                payment = tiffin.payments.payment_of_order(order.order_id)
                gateway_says(tiffin, payment, "refund.processed")

    def deliver(self, order: Placed) -> None:
        deliveries = self.tiffin.deliveries
        delivery = deliveries.delivery_of_order(order.order_id)
        if order.fate == "courier swapped":
            rider = cause(Role.COURIER, delivery.courier_id)
            deliveries.unassign_courier(delivery.id, "flat tyre", rider)
            deliveries.retry_assignment(delivery.id, SAGA)  # as the deadline scheduler would
            delivery = deliveries.get_delivery(delivery.id)
        self.tiffin.ordering.mark_ready(order.order_id, order.kitchen.owner)
        rider = cause(Role.COURIER, delivery.courier_id)
        deliveries.pick_up(delivery.id, rider)
        deliveries.deliver(delivery.id, rider)

    def burst(self) -> None:
        """Many orders at once, none of them paid: half cancelled by their customers, the
        others' payments failing; a backlog for the projector."""
        burst = [self.place() for _ in range(BURST)]
        for order in burst[::2]:
            self.tiffin.ordering.cancel_order(order.order_id, "changed my mind", order.customer)
        self.saga.run_until_idle()  # payments requested, and closed for the cancelled orders
        for order in burst[1::2]:
            payment = self.tiffin.payments.payment_of_order(order.order_id)
            gateway_says(self.tiffin, payment, "payment.failed")
        self.saga.run_until_idle()

    def menus_and_shifts(self) -> None:
        """A restaurant changes its menu and closes for a moment; a courier takes a break."""
        restaurants, kitchen = self.tiffin.restaurants, self.rng.choice(self.kitchens)
        restaurant_id, owner = kitchen.restaurant.id, kitchen.owner
        price = Money.parse(f"{self.rng.randint(40, 60)}.50")
        restaurants.change_menu_item(restaurant_id, kitchen.coffee.id, price=price, cause=owner)
        special = restaurants.add_menu_item(
            restaurant_id, name="Special of the day", price=price, cause=owner
        ).value
        restaurants.change_menu_item(restaurant_id, special.id, available=False, cause=owner)
        restaurants.remove_menu_item(restaurant_id, special.id, owner)
        restaurants.set_online(restaurant_id, False, owner)
        restaurants.set_online(restaurant_id, True, owner)
        courier, rider = self.rng.choice(self.couriers)
        self.tiffin.deliveries.set_on_shift(courier.id, False, rider)
        self.tiffin.deliveries.set_on_shift(courier.id, True, rider)


class ViewWrites:
    """Sees, in PostgreSQL, whether the worker is inside a view transaction that has written:
    its connections carry an application name of their own."""

    def __init__(self, database_url: str) -> None:
        self.connection = psycopg.connect(database_url, autocommit=True)

    def open(self) -> bool:
        row = self.connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND backend_xid IS NOT NULL",
            (WORKER_APPLICATION_NAME,),
        ).fetchone()
        return row is not None and row[0] > 0

    def close(self) -> None:
        self.connection.close()


def write_while_killing(
    traffic: Traffic, workers: Workers, writes: ViewWrites, moments: random.Random
) -> int:
    """Keeps the parties busy while a killer SIGKILLs the worker ``KILLS`` times, starting
    another each time; returns how many kills found it inside a view transaction that had
    written. The moment is random: a fifth of the kills in the first 0.6 s (often in
    the worker's start-up), two fifths up to 0.3 s after it has started (often in the backlog
    of its downtime), the others as soon as it is seen inside a view write (within a second)."""
    done = threading.Event()
    killer_failed: list[BaseException] = []
    in_view_writes = 0

    def pause() -> None:
        worker, mode = workers.newest, moments.random()
        if mode < 0.2:
            done.wait(moments.uniform(0, 0.6))
            return
        workers.wait_running(worker, timeout=30)
        if mode < 0.6:
            done.wait(moments.uniform(0, 0.3))
            return
        watch_until = time.monotonic() + 1
        while not writes.open() and time.monotonic() < watch_until and not done.is_set():
            time.sleep(0.001)

    def killer() -> None:
        nonlocal in_view_writes
        try:
            while workers.kills < KILLS:
                pause()
                if done.is_set():
                    return
                in_view_writes += writes.open()
                workers.kill(workers.newest)
        except BaseException as error:
            killer_failed.append(error)
            raise

    workers.start()
    killing = threading.Thread(target=killer, daemon=True)
    killing.start()
    give_up = time.monotonic() + GIVE_UP_SECONDS
    try:
        while workers.kills < KILLS:
            assert not killer_failed, killer_failed
            assert time.monotonic() < give_up, f"only {workers.kills} kills; see {workers.logs}"
            traffic.round()
    finally:
        done.set()
        killing.join()
    assert not killer_failed, killer_failed
    return in_view_writes


def test_every_view_equals_a_fresh_replay_after_its_worker_is_killed_again_and_again(
    database_url: str, postgres_url: str, tmp_path: Path
) -> None:
    with scratch_prefix() as prefix, scratch_prefix() as replay_prefix:
        every_view_survives_its_worker_killed(
            database_url, postgres_url, tmp_path, prefix, replay_prefix
        )


def every_view_survives_its_worker_killed(
    database_url: str, postgres_url: str, tmp_path: Path, prefix: str, replay_prefix: str
) -> None:
    began = time.monotonic()
    rng = random.Random(20261124)
    environ = worker_environ(
        postgres_url,
        tmp_path / "var",
        TIFFIN_SIMULATED_CAPTURE_SECONDS="-1",  # the test plays the gateway
        TIFFIN_WORKER_POLL_SECONDS="0.05",
        TIFFIN_REDIS_URL=REDIS_URL,
        TIFFIN_REDIS_PREFIX=prefix,
        PGAPPNAME=WORKER_APPLICATION_NAME,  # libpq's default for every connection it opens
    )
    workers = Workers(environ, tmp_path / "workers", only=list(EVERY_VIEW))
    with bootstrap(settings_of(environ)) as tiffin:  # the test's own process: the API's side
        projectors = [projector(tiffin, tiffin.views(), name) for name in EVERY_VIEW]
        saga = tiffin.runtime(SAGA_STEPS)  # the saga's steps, run here when the test says so
        traffic = Traffic(
            tiffin,
            saga,
            rng,
            kitchens=[open_kitchen(tiffin) for _ in range(KITCHENS)],
            couriers=[courier_on_shift(tiffin) for _ in range(COURIERS)],
        )
        writes = ViewWrites(postgres_url)
        try:
            kills_in_view_writes = write_while_killing(
                traffic, workers, writes, random.Random(rng.random())
            )
            catching_up = time.monotonic()
            deadline = catching_up + CATCH_UP_SECONDS
            assert caught_up(projectors, deadline), (  # the last worker, never killed
                f"the views did not catch up; see {workers.logs}"
            )
            caught_up_seconds = time.monotonic() - catching_up
        finally:
            workers.stop()
            saga.stop()
            writes.close()

        heads = {
            app.name: app.recorder.max_notification_id() or 0
            for app in (tiffin.restaurants, tiffin.ordering, tiffin.payments, tiffin.deliveries)
        }
        behind = [
            f"{view.name} at {view.position(leader.name)} of {leader.name}'s {heads[leader.name]}"
            for view in projectors
            for leader in view.leaders
            if view.position(leader.name) > heads[leader.name]
            or not view.has_reached(leader, heads[leader.name])
        ]
        parked = {view.name: view.parked() for view in projectors}
        views = {name: view_digest(tiffin.views(), p) for name, p in PROJECTIONS.items()}
        hot = hot_views(tiffin, prefix)
        replaying = time.monotonic()
        replayed = replayed_views(tiffin, database_url)
        replayed_hot = replayed_hot_views(tiffin, replay_prefix)
        replay_seconds = time.monotonic() - replaying
    print(
        f"\nprojection crash test: {workers.kills} SIGKILLs of `tiffin worker --only "
        f"{' '.join(EVERY_VIEW)}` ({kills_in_view_writes} inside a SQL view write), "
        f"{sum(heads.values())} events in {len(heads)} logs, {traffic.orders} orders; "
        f"the last worker caught up in {caught_up_seconds:.1f} s, replay {replay_seconds:.1f} s, "
        f"{time.monotonic() - began:.1f} s in all"
    )

    assert workers.kills >= KILLS
    assert kills_in_view_writes > 0, "no kill landed inside a view write: nothing was tested"
    assert behind == []
    assert {name: len(events) for name, events in parked.items()} == dict.fromkeys(EVERY_VIEW, 0), (
        next(events[0] for events in parked.values() if events)
    )
    assert [
        name for name, tables in views.items() if not any(t.rows for t in tables.values())
    ] == []
    for name in PROJECTIONS:
        assert views[name] == replayed[name], f"{name} differs from its replay"
    for name in HOT_VIEWS:
        assert hot[name].get("positions"), f"{name} never ran"
        assert hot[name] == replayed_hot[name], f"{name} differs from its replay"
