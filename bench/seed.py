"""Seeding the event store with orders through their lifecycle, fast, for the read-model bench.

The events are the platform's own: each order is placed from a restaurant's live menu, paid,
accepted, given a courier, made ready, picked up, delivered and rated (most of them), or its
payment fails, or the restaurant rejects it, or the customer cancels it, and the payments and
deliveries (and the couriers carrying them) go along, with the causes the saga, the gateway,
the restaurant, the courier and the customer would give. The aggregates run the same domain
commands the applications run, but in memory and a whole batch of orders a step at a time,
each step saved through its application as one save: so orders interleave in the logs the way
concurrent orders do, and several threads' saves go through group commit together.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import uuid4

from eventsourcing.domain import Aggregate

from application.base import SAGA_ACTOR, TiffinApplication
from application.deadlines import SCHEDULER_ACTOR
from application.payments import upi_intent_uri
from application.webhooks import GATEWAY_ACTOR
from domain.courier import Courier
from domain.delivery import Delivery
from domain.order import DeliveryAddress, Order
from domain.payment import Payment, payment_id_for
from domain.restaurant import LineRequest, Restaurant
from domain.values import Cause, Location, Money, Role
from wiring.bootstrap import Tiffin

DELIVERED, UNPAID, EXPIRED = "delivered", "unpaid", "expired"
REJECTED, CANCELLED = "rejected", "cancelled"
FATES = (DELIVERED, UNPAID, EXPIRED, REJECTED, CANCELLED)
FATE_WEIGHTS = (88, 2, 2, 4, 4)
RATED_SHARE = 0.7
MENU = (
    ("Masala dosa", "120.00", "dosa"),
    ("Idli vada", "80.00", "tiffin"),
    ("Pongal", "95.00", "tiffin"),
    ("Rava kesari", "60.00", "sweets"),
    ("Filter coffee", "45.50", "drinks"),
    ("Mango lassi", "70.00", "drinks"),
)
BENGALURU = Location(12.9716, 77.5946)
Say = Callable[[str], None]


@dataclass
class SeedResult:
    events: int
    orders: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def near(rng: random.Random, around: Location, spread: float = 0.05) -> Location:
    return Location(
        round(around.lat + rng.uniform(-spread, spread), 6),
        round(around.lng + rng.uniform(-spread, spread), 6),
    )


def open_restaurants(tiffin: Tiffin, count: int, rng: random.Random) -> list[Restaurant]:
    """Restaurants online with a menu each, through the Restaurants application's commands."""
    restaurants = []
    for n in range(count):
        owner = Cause(f"owner-{uuid4().hex[:8]}", Role.RESTAURANT, f"onboarding-{n}")
        registered = tiffin.restaurants.register_restaurant(
            owner_id=owner.actor_id,
            name=f"Tiffin Centre {n}",
            cuisine="south indian",
            address=f"{n + 1} MG Road, Bengaluru",
            location=near(rng, BENGALURU),
            opening_hours="Mo-Su 07:00-22:30",
            cause=owner,
        ).value
        for name, price, category in MENU:
            tiffin.restaurants.add_menu_item(
                registered.id, name=name, price=Money.parse(price), category=category, cause=owner
            )
        tiffin.restaurants.set_online(registered.id, True, owner)
        restaurants.append(tiffin.restaurants.get_restaurant(registered.id))
    return restaurants


def update_menus(tiffin: Tiffin, restaurants: Sequence[Restaurant]) -> None:
    """The day's menu changes: a price raised, an item sold out and one dropped; one kitchen
    closes for a while."""
    for restaurant in restaurants:
        owner = Cause(restaurant.owner_id, Role.RESTAURANT, f"menu-{uuid4().hex[:8]}")
        first, second, third = list(restaurant.menu.values())[:3]
        tiffin.restaurants.change_menu_item(
            restaurant.id, first.id, price=Money(first.price.minor + 500), cause=owner
        )
        tiffin.restaurants.change_menu_item(restaurant.id, second.id, available=False, cause=owner)
        tiffin.restaurants.remove_menu_item(restaurant.id, third.id, owner)
    owner = Cause(restaurants[0].owner_id, Role.RESTAURANT, "closing")
    tiffin.restaurants.set_online(restaurants[0].id, False, owner)
    tiffin.restaurants.set_online(restaurants[0].id, True, owner)


def couriers_on_shift(tiffin: Tiffin, count: int) -> list[Courier]:
    """Couriers registered and on shift, saved in one go."""
    couriers = []
    for _ in range(count):
        rider = Cause(f"rider-{uuid4().hex[:8]}", Role.COURIER, f"onboarding-{uuid4().hex[:8]}")
        courier = Courier.register(
            owner_id=rider.actor_id,
            name="Ravi",
            vehicle_type="scooter",
            license_plate="KA01AB1234",
            cause=rider,
        )
        courier.start_shift(rider)
        couriers.append(courier)
    tiffin.deliveries.save(*couriers)
    return couriers


@dataclass
class _Order:
    """One order of a batch, its payment and delivery, and who acts on it."""

    order: Order
    payment: Payment
    fate: str
    customer: Cause
    owner: Cause
    saga: Cause
    gateway: Cause


@dataclass
class _Trip:
    """A delivered order's delivery and the courier carrying it."""

    of: _Order
    delivery: Delivery
    courier: Courier
    rider: Cause


@dataclass
class _Counter:
    events: int = 0
    orders: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, events: int, orders: int = 0) -> None:
        with self.lock:
            self.events += events
            self.orders += orders


class _Batch:
    """A batch of orders driven through their lifecycle one step at a time."""

    def __init__(self, tiffin: Tiffin, rng: random.Random, counter: _Counter) -> None:
        self.tiffin = tiffin
        self.rng = rng
        self.counter = counter

    def save(self, app: TiffinApplication, aggregates: Sequence[Aggregate | None]) -> None:
        changed = [a for a in aggregates if a is not None and a.pending_events]
        if changed:
            self.counter.add(len(app.save(*changed)))

    def run(self, restaurants: Sequence[Restaurant], couriers: Sequence[Courier]) -> None:
        rng, ordering, payments = self.rng, self.tiffin.ordering, self.tiffin.payments
        batch = [self._place(rng.choice(restaurants)) for _ in couriers]
        self.save(ordering, [b.order for b in batch])
        self.save(payments, [b.payment for b in batch])
        for b in batch:
            if b.fate == UNPAID:
                b.payment.fail("declined by the payer's bank", b.gateway)
            elif b.fate == EXPIRED:
                b.payment.expire(Cause(SCHEDULER_ACTOR, Role.SYSTEM, b.saga.correlation_id))
            else:
                b.payment.capture(b.payment.amount, f"UTR{uuid4().hex[:10]}", b.gateway)
        self.save(payments, [b.payment for b in batch])
        for b in batch:
            if b.fate == UNPAID:
                b.order.cancel("payment failed: declined by the payer's bank", b.saga)
            elif b.fate == EXPIRED:
                b.order.cancel("payment not made in time", b.saga)
            else:
                b.order.confirm_payment(b.saga)
        self.save(ordering, [b.order for b in batch])
        for b in batch:
            if b.fate == CANCELLED:
                b.order.cancel("ordered by mistake", b.customer)
            elif b.fate == REJECTED:
                b.order.reject("out of batter for today", b.owner)
            elif b.fate == DELIVERED:
                b.order.accept(rng.randint(5, 40), b.owner)
        self.save(ordering, [b.order for b in batch])
        refunded = [b for b in batch if b.fate in (REJECTED, CANCELLED)]
        for b in refunded:
            b.payment.request_refund(b.payment.amount, f"order {b.fate}", b.saga)
        self.save(payments, [b.payment for b in refunded])
        for b in refunded:
            b.payment.complete_refund(b.payment.amount, f"RFD{uuid4().hex[:10]}", b.gateway)
        self.save(payments, [b.payment for b in refunded])
        going = [b for b in batch if b.fate == DELIVERED]
        self._deliver(going, list(couriers))
        self.counter.add(0, len(batch))

    def _deliver(self, going: list[_Order], couriers: list[Courier]) -> None:
        ordering, deliveries, rng = self.tiffin.ordering, self.tiffin.deliveries, self.rng
        trips = [
            _Trip(
                b,
                Delivery.request(
                    order_id=b.order.id,
                    pickup=b.order.pickup,
                    dropoff=b.order.delivery_address.location,
                    cause=b.saga,
                ),
                courier,
                Cause(courier.owner_id, Role.COURIER, b.customer.correlation_id),
            )
            for b, courier in zip(going, couriers, strict=False)
        ]
        self.save(deliveries, [t.delivery for t in trips])
        for t in trips:
            t.courier.take_delivery(t.delivery.id, t.of.saga)
            t.delivery.assign(str(t.courier.id), t.of.saga)
        self.save(deliveries, [a for t in trips for a in (t.delivery, t.courier)])
        for t in trips:
            t.of.order.assign_courier(str(t.courier.id), t.of.saga)
        self.save(ordering, [t.of.order for t in trips])
        for t in trips:
            t.of.order.mark_ready(t.of.owner)
        self.save(ordering, [t.of.order for t in trips])
        for t in trips:
            t.delivery.pick_up(t.rider)
        self.save(deliveries, [t.delivery for t in trips])
        for t in trips:
            t.of.order.mark_picked_up(t.of.saga)
        self.save(ordering, [t.of.order for t in trips])
        for t in trips:
            t.delivery.deliver(t.rider)
            t.courier.release_delivery(t.delivery.id, t.rider)
        self.save(deliveries, [a for t in trips for a in (t.delivery, t.courier)])
        for t in trips:
            t.of.order.mark_delivered(t.of.saga)
        self.save(ordering, [t.of.order for t in trips])
        for t in trips:
            if rng.random() < RATED_SHARE:
                stars = rng.randint(3, 5), rng.randint(3, 5)
                t.of.order.rate(*stars, "hot and crisp", t.of.customer)
        self.save(ordering, [t.of.order for t in trips])

    def _place(self, restaurant: Restaurant) -> _Order:
        rng = self.rng
        correlation = f"order-{uuid4().hex[:12]}"
        customer = Cause(f"customer-{rng.randrange(50_000)}", Role.CUSTOMER, correlation)
        items = rng.sample(list(restaurant.menu.values()), rng.randint(1, 3))
        order = Order.place(
            customer_id=customer.actor_id,
            restaurant=restaurant,
            requests=[LineRequest(item.id, rng.randint(1, 3)) for item in items],
            delivery_address=DeliveryAddress(
                line1=f"{rng.randint(1, 400)} Residency Road",
                city="Bengaluru",
                postal_code="560025",
                location=near(rng, BENGALURU, 0.08),
                phone="+919800000001",
            ),
            delivery_fee=self.tiffin.ordering.delivery_fee,
            payment_vpa="asha@okbank",
            cause=customer,
        )
        saga = Cause(SAGA_ACTOR, Role.SYSTEM, correlation)
        payment_id = payment_id_for(order.id)
        payment = Payment.request(
            order_id=order.id,
            amount=order.total,
            vpa=order.payment_vpa,
            upi_uri=upi_intent_uri(
                self.tiffin.payments.merchant,
                payment_id,
                order.total,
                f"Tiffin order {str(order.id)[:8]}",
            ),
            cause=saga,
        )
        return _Order(
            order=order,
            payment=payment,
            fate=rng.choices(FATES, FATE_WEIGHTS)[0],
            customer=customer,
            owner=Cause(restaurant.owner_id, Role.RESTAURANT, correlation),
            saga=saga,
            gateway=Cause(GATEWAY_ACTOR, Role.SYSTEM, correlation),
        )


def seed_orders(
    tiffin: Tiffin,
    events: int,
    say: Say,
    *,
    threads: int = 4,
    batch: int = 100,
    restaurants: int = 20,
    seed: int = 5,
) -> SeedResult:
    """Writes orders through their lifecycle until at least ``events`` events are stored."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    began = time.perf_counter()
    kitchens = open_restaurants(tiffin, restaurants, rng)
    counter = _Counter()
    failures: list[BaseException] = []

    def write(number: int) -> None:
        local = random.Random(seed * 1000 + number)  # noqa: S311
        couriers = couriers_on_shift(tiffin, batch)
        try:
            while counter.events < events and not failures:
                _Batch(tiffin, local, counter).run(kitchens, couriers)
            for courier in couriers:  # the shift is over
                courier.end_shift(Cause(courier.owner_id, Role.COURIER, "end-of-shift"))
            counter.add(len(tiffin.deliveries.save(*couriers)))
        except BaseException as error:
            failures.append(error)
            raise

    workers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    last = 0.0
    while any(worker.is_alive() for worker in workers):
        workers[0].join(0.2)
        now = time.perf_counter()
        if now - last >= 2.0:
            last = now
            rate = counter.events / (now - began)
            say(f"  seeding: {counter.events:,} / {events:,} events ({rate:,.0f} events/s)")
    if failures:
        raise RuntimeError("seeding failed") from failures[0]
    update_menus(tiffin, kitchens)
    total = sum(
        app.recorder.max_notification_id() or 0
        for app in (tiffin.restaurants, tiffin.ordering, tiffin.payments, tiffin.deliveries)
    )
    return SeedResult(total, counter.orders, time.perf_counter() - began)
