"""Projection lag under a steady write load.

A writer process issues the applications' commands (orders through their lifecycle, with the
payment and delivery commands the gateway, the saga, the restaurant and the courier would issue)
at a steady rate, paced against the clock and open-loop: command ``n`` is due ``n / rate``
seconds after the start and is handed to a pool of threads then, whether or not earlier ones
finished. A projector worker runs in a process of its own (``tiffin worker --only NAME``, the
way it is deployed). In the bench's own process a watcher thread polls the projection's
positions on a connection of its own about every millisecond and notes when each position was
first seen. A command's lag is the moment the view first included its last event of the
projection's topics (positions are written in the same transaction as the view's rows) minus the
moment the command returned, its events committed.
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.application import Application

from application.base import SAGA_ACTOR
from application.results import Changed
from application.settings import Settings, load_settings
from application.webhooks import GATEWAY_ACTOR
from bench.seed import BENGALURU, couriers_on_shift, open_restaurants
from domain.order import DeliveryAddress
from domain.restaurant import LineRequest, Restaurant
from domain.values import Cause, Money, Role
from wiring.bootstrap import Tiffin, bootstrap
from wiring.workers import projector

COMMANDS_PER_ORDER = 14
EVENTS_PER_ORDER = 16  # assigning and delivering also change the courier
WATCH_SECONDS = 0.001
WORKER_COMMAND = ["-m", "cli"]  # ``tiffin``, with this interpreter
WORKER_START_TIMEOUT = 60.0
WRITER_START_SECONDS = 4.0  # for the writer process to start, import and connect
# The writer's applications keep the aggregates they save in eventsourcing's aggregate cache
# (each writer process alone changes its orders and couriers): every command is still the
# application's own and saves through group commit, but without reading its aggregate back
# first, which halves the load generator's CPU on a small machine shared with what it measures.
WRITER_CACHE = {
    "AGGREGATE_CACHE_MAXSIZE": "100000",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}
Say = Callable[[str], None]


@dataclass
class Committed:
    leader: str
    position: int
    at: float  # time.time() when the command returned
    slip: float  # how late the command started against its schedule, seconds


@dataclass
class LagResult:
    seconds: float  # the writing window
    events: int  # events written in it (every log)
    commands: int
    errors: int
    lags_ms: list[float]  # per command whose events the projection takes
    uncovered: int  # commands the view had not caught up with when the bench gave up
    slip_p99_ms: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float | None:
        return percentile(self.lags_ms, share)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` 0.99: p99); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass
class OrderInFlight:
    """One order's way through its lifecycle, a command at a time."""

    restaurant: Restaurant
    customer: Cause
    step: int = 0
    order_id: UUID | None = None
    total: Money | None = None
    payment_id: UUID | None = None
    delivery_id: UUID | None = None
    courier_id: str | None = None
    rider: Cause | None = None


class Commands:
    """Issues each order's commands through the applications, as their callers would."""

    def __init__(
        self,
        tiffin: Tiffin,
        restaurants: Sequence[Restaurant],
        couriers: Sequence[tuple[str, str]],
        number: int = 0,
    ) -> None:
        self.tiffin = tiffin
        self.restaurants = list(restaurants)
        self.free_couriers: deque[tuple[str, str]] = deque(couriers)
        self.number = number
        self.created = 0

    def new_order(self) -> OrderInFlight:
        self.created += 1
        restaurant = self.restaurants[self.created % len(self.restaurants)]
        correlation = f"order-{uuid4().hex[:12]}"
        customer = Cause(f"customer-{self.number}-{self.created}", Role.CUSTOMER, correlation)
        return OrderInFlight(restaurant, customer)

    def next_command(self, o: OrderInFlight) -> tuple[Application[Any], Callable[[], Changed[Any]]]:
        t = self.tiffin
        corr = o.customer.correlation_id
        saga = Cause(SAGA_ACTOR, Role.SYSTEM, corr)
        gateway = Cause(GATEWAY_ACTOR, Role.SYSTEM, corr)
        owner = Cause(o.restaurant.owner_id, Role.RESTAURANT, corr)
        order_id = o.order_id or uuid4()
        step = o.step
        if step == 0:
            return t.ordering, lambda: self._place(o)
        if step == 1:
            return t.payments, lambda: self._request_payment(o, saga)
        if step == 2:
            assert o.payment_id is not None
            assert o.total is not None
            payment_id, total = o.payment_id, o.total
            return t.payments, lambda: t.payments.capture_payment(
                payment_id, total, f"UTR{uuid4().hex[:10]}", gateway
            )
        if step == 3:
            return t.ordering, lambda: t.ordering.confirm_payment(order_id, saga)
        if step == 4:
            return t.ordering, lambda: t.ordering.accept_order(order_id, 15, owner)
        if step == 5:
            return t.deliveries, lambda: self._request_delivery(o, saga)
        if step == 6:
            return t.deliveries, lambda: self._assign(o, saga)
        if step == 7:
            courier_id = o.courier_id or ""
            return t.ordering, lambda: t.ordering.assign_courier(order_id, courier_id, saga)
        if step == 8:
            return t.ordering, lambda: t.ordering.mark_ready(order_id, owner)
        assert o.delivery_id is not None
        assert o.rider is not None
        delivery_id, rider = o.delivery_id, o.rider
        if step == 9:
            return t.deliveries, lambda: t.deliveries.pick_up(delivery_id, rider)
        if step == 10:
            return t.ordering, lambda: t.ordering.mark_picked_up(order_id, saga)
        if step == 11:
            return t.deliveries, lambda: self._deliver(o, delivery_id, rider)
        if step == 12:
            return t.ordering, lambda: t.ordering.mark_delivered(order_id, saga)
        return t.ordering, lambda: t.ordering.rate_order(
            order_id, restaurant_stars=5, courier_stars=4, cause=o.customer
        )

    def _place(self, o: OrderInFlight) -> Changed[Any]:
        items = list(o.restaurant.menu.values())[: 1 + self.created % 3]
        changed = self.tiffin.ordering.place_order(
            customer_id=o.customer.actor_id,
            restaurant_id=o.restaurant.id,
            requests=[LineRequest(item.id, 1 + n) for n, item in enumerate(items)],
            delivery_address=DeliveryAddress(
                line1="48 Residency Road",
                city="Bengaluru",
                postal_code="560025",
                location=BENGALURU,
                phone="+919800000001",
            ),
            payment_vpa="asha@okbank",
            cause=o.customer,
        )
        o.order_id, o.total = changed.value.id, changed.value.total
        return changed

    def _request_payment(self, o: OrderInFlight, saga: Cause) -> Changed[Any]:
        assert o.order_id is not None
        assert o.total is not None
        changed = self.tiffin.payments.request_payment(
            order_id=o.order_id, amount=o.total, vpa="asha@okbank", cause=saga
        )
        o.payment_id = changed.value.id
        return changed

    def _request_delivery(self, o: OrderInFlight, saga: Cause) -> Changed[Any]:
        assert o.order_id is not None
        changed = self.tiffin.deliveries.request_delivery(
            order_id=o.order_id, pickup=o.restaurant.location, dropoff=BENGALURU, cause=saga
        )
        o.delivery_id = changed.value.id
        return changed

    def _assign(self, o: OrderInFlight, saga: Cause) -> Changed[Any]:
        assert o.delivery_id is not None
        try:
            courier_id, owner_id = self.free_couriers.popleft()
        except IndexError:
            [courier] = couriers_on_shift(self.tiffin, 1)
            courier_id, owner_id = str(courier.id), courier.owner_id
        o.courier_id = courier_id
        o.rider = Cause(owner_id, Role.COURIER, saga.correlation_id)
        return self.tiffin.deliveries.assign_courier(o.delivery_id, courier_id, saga)

    def _deliver(self, o: OrderInFlight, delivery_id: UUID, rider: Cause) -> Changed[Any]:
        changed = self.tiffin.deliveries.deliver(delivery_id, rider)
        assert o.courier_id is not None
        self.free_couriers.append((o.courier_id, rider.actor_id))
        return changed


class _Watcher:
    """Polls the projection's positions and notes when each was first seen."""

    def __init__(self, database_url: str, projection: str) -> None:
        self.database_url = database_url
        self.projection = projection
        self.seen: dict[str, tuple[list[int], list[float]]] = {}
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lag-watcher", daemon=True)

    def _watch(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT leader, position FROM tiffin_projection_positions"
                    " WHERE projection = %s",
                    (self.projection,),
                    prepare=True,
                ).fetchall()
                now = time.time()
                self.polls += 1
                for leader, position in rows:
                    positions, times = self.seen.setdefault(leader, ([], []))
                    if not positions or position > positions[-1]:
                        positions.append(int(position))
                        times.append(now)
                time.sleep(WATCH_SECONDS)

    def covered_at(self, leader: str, position: int) -> float | None:
        positions, times = self.seen.get(leader, ([], []))
        index = bisect.bisect_left(positions, position)
        return times[index] if index < len(positions) else None

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def projector_process(
    settings: Settings,
    projection: str,
    poll_seconds: float,
    say: Say,
    environ: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``tiffin worker --only PROJECTION`` on the same database, in a process of its own (with
    ``environ``'s settings too: the Kafka relay's cluster, say)."""
    assert settings.database_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIFFIN_")}
    env.update(
        TIFFIN_DATABASE_URL=settings.database_url,
        TIFFIN_DATA_DIR=str(settings.data_dir),
        TIFFIN_WORKER_POLL_SECONDS=str(poll_seconds),
        TIFFIN_SIMULATED_CAPTURE_SECONDS="-1",
        **(environ or {}),
    )
    with tempfile.TemporaryFile() as log:
        worker = subprocess.Popen(  # noqa: S603 (our own CLI, with this interpreter)
            [sys.executable, *WORKER_COMMAND, "worker", "--only", projection],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            worker.terminate()
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.returncode not in (0, -15):
                log.seek(0)
                say(log.read().decode(errors="replace")[-2000:])


def _heads(leaders: Sequence[Application[Any]]) -> dict[str, int]:
    return {leader.name: leader.recorder.max_notification_id() or 0 for leader in leaders}


def _wait_caught_up(
    tiffin: Tiffin, projection: str, worker: subprocess.Popen[bytes], timeout: float, say: Say
) -> float:
    """Waits until the worker's view includes everything written so far; how long it took."""
    running = projector(tiffin, tiffin.views(), projection)
    heads = _heads(running.leaders)
    began = time.perf_counter()
    last_said = began
    while not all(running.has_reached(leader, heads[leader.name]) for leader in running.leaders):
        now = time.perf_counter()
        if worker.poll() is not None:
            raise RuntimeError(f"the projector worker exited with {worker.returncode}")
        if now - began > timeout:
            raise TimeoutError(f"{projection} did not catch up within {timeout:g} s")
        if now - last_said >= 5:
            last_said = now
            at = {leader.name: running.position(leader.name) for leader in running.leaders}
            say(f"  waiting for the worker to catch up: at {at}, heads {heads}")
        time.sleep(0.05)
    return time.perf_counter() - began


@dataclass(frozen=True)
class WritePlan:
    """What the writer process writes, and when it starts (a ``time.time()``)."""

    database_url: str
    data_dir: str
    events_per_second: float
    seconds: float
    start_at: float
    restaurant_ids: list[UUID]
    couriers: list[tuple[str, str]]  # (courier id, owner id), on shift and free
    threads: int
    number: int = 0  # of the writer processes, each writing its share of the rate,
    processes: int = 1  # their schedules interleaved


@dataclass
class WriteLog:
    committed: list[Committed] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    began: float = 0.0  # time.time() of the first command's schedule
    ended: float = 0.0  # once every command had returned
    before: dict[str, int] = field(default_factory=dict)  # each log's head as writing began
    after: dict[str, int] = field(default_factory=dict)  # and once every command had returned

    @classmethod
    def merged(cls, logs: Sequence[WriteLog]) -> WriteLog:
        names = logs[0].before
        return cls(
            [c for log in logs for c in log.committed],
            sum(log.errors for log in logs),
            next((log.first_error for log in logs if log.first_error), None),
            min(log.began for log in logs),
            max(log.ended for log in logs),
            {name: min(log.before[name] for log in logs) for name in names},
            {name: max(log.after[name] for log in logs) for name in names},
        )


def write_load(plan: WritePlan) -> WriteLog:
    """The writer, in a process of its own (so neither it nor the watcher holds up the other's
    clock): its own platform on the same database, commands issued open-loop."""
    os.environ.update(WRITER_CACHE)
    settings = load_settings(
        {
            "TIFFIN_DATABASE_URL": plan.database_url,
            "TIFFIN_DATA_DIR": plan.data_dir,
            "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
        }
    )
    with bootstrap(settings) as tiffin:
        restaurants = [tiffin.restaurants.get_restaurant(i) for i in plan.restaurant_ids]
        writer = Commands(tiffin, restaurants, plan.couriers, plan.number)
        logs = [tiffin.ordering, tiffin.payments, tiffin.deliveries]
        interval = EVENTS_PER_ORDER * plan.processes / (COMMANDS_PER_ORDER * plan.events_per_second)
        began = plan.start_at + interval * plan.number / plan.processes
        time.sleep(max(0.0, began - time.time() - 0.01))
        before = _heads(logs)
        log = _write(writer, began, interval, int(plan.seconds / interval), plan.threads)
        log.before, log.after = before, _heads(logs)
        return log


def measure_lag(
    tiffin: Tiffin,
    projection: str,
    events_per_second: float,
    seconds: float,
    poll_seconds: float,
    say: Say,
    *,
    processes: int = 1,
    threads: int = 8,
    environ: Mapping[str, str] | None = None,
) -> LagResult:
    """Writes at ``events_per_second`` for ``seconds`` while a projector worker process keeps
    the view (with ``environ``'s settings); each command's lag from its commit until the view
    included it (for the Kafka relay: until the brokers had acknowledged it, since its position
    moves only then)."""
    settings = tiffin.settings
    assert settings.database_url is not None
    running = projector(tiffin, tiffin.views(), projection)
    restaurants = open_restaurants(tiffin, 5, random.Random(7))  # noqa: S311 (test data)
    couriers = [(str(c.id), c.owner_id) for c in couriers_on_shift(tiffin, 400)]
    with projector_process(settings, projection, poll_seconds, say, environ) as worker:
        took = _wait_caught_up(tiffin, projection, worker, WORKER_START_TIMEOUT + 600, say)
        say(f"  the worker is up and caught up ({took:.1f} s); writing for {seconds:g} s")
        start_at = time.time() + WRITER_START_SECONDS
        plans = [
            WritePlan(
                settings.database_url,
                str(settings.data_dir),
                events_per_second,
                seconds,
                start_at,
                [r.id for r in restaurants],
                couriers[number::processes],
                threads,
                number,
                processes,
            )
            for number in range(processes)
        ]
        with _Watcher(settings.database_url, projection) as watcher:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(processes, mp_context=context) as pool:
                log = WriteLog.merged(list(pool.map(write_load, plans)))
            _wait_caught_up(tiffin, projection, worker, 60, say)
    if log.first_error:
        say(f"  {log.errors} command(s) failed, the first: {log.first_error}")
    lags, uncovered = _lags(running.leaders, running.topics, log, watcher)
    slips = sorted(c.slip for c in log.committed)
    return LagResult(
        seconds=log.ended - log.began,
        events=sum(log.after[name] - log.before[name] for name in log.after),
        commands=len(log.committed) + log.errors,
        errors=log.errors,
        lags_ms=lags,
        uncovered=uncovered,
        slip_p99_ms=slips[int(len(slips) * 0.99) - 1] * 1000 if slips else 0.0,
    )


def _write(writer: Commands, began: float, interval: float, count: int, threads: int) -> WriteLog:
    """Open loop: command ``n`` starts at ``began + n * interval`` whatever became of the
    ones before."""
    ready: deque[OrderInFlight] = deque()
    log = WriteLog(began=began)
    previous_switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # the pacing thread gets the GIL back sooner

    def run(order: OrderInFlight, due: float) -> None:
        app, command = writer.next_command(order)
        slip = time.time() - due
        try:
            changed = command()
        except Exception as error:
            log.errors += 1
            log.first_error = log.first_error or f"{type(error).__name__}: {error}"
            return
        at = time.time()
        if changed.position is not None:
            log.committed.append(Committed(app.name, changed.position, at, slip))
        order.step += 1
        if order.step < COMMANDS_PER_ORDER:
            ready.append(order)

    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="lag-writer") as pool:
            for n in range(count):
                due = began + n * interval
                wait = due - time.time()
                if wait > 0:
                    time.sleep(wait)
                order = ready.popleft() if ready else writer.new_order()
                pool.submit(run, order, due)
        log.ended = time.time()
    finally:
        sys.setswitchinterval(previous_switch)
    return log


def _lags(
    leaders: Sequence[Application[Any]], topics: Sequence[str], log: WriteLog, watcher: _Watcher
) -> tuple[list[float], int]:
    """Each command's lag: from its return until the view's position reached its last event
    of the projection's topics (commands with none are left out)."""
    taken: dict[str, list[int]] = {}
    for leader in leaders:
        if leader.name not in log.before:  # a log the writer does not write (Restaurants)
            continue
        notifications = leader.recorder.select_notifications(
            start=log.before[leader.name],
            stop=log.after[leader.name],
            limit=10_000_000,
            topics=topics,
            inclusive_of_start=False,
        )
        taken[leader.name] = [n.id for n in notifications]
    lags, uncovered = [], 0
    for c in log.committed:
        ids = taken.get(c.leader)
        if not ids:
            continue
        index = bisect.bisect_right(ids, c.position) - 1
        if index < 0:
            continue
        seen = watcher.covered_at(c.leader, ids[index])
        if seen is None:
            uncovered += 1
        else:
            lags.append(max(0.0, seen - c.at) * 1000)
    return lags, uncovered
