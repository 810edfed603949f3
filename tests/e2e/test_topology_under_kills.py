"""The Compose topology as local processes, under fire: `tiffin migrate`; two `tiffin serve`
replicas; the workers split into groups (saga, views, outbox), each with a hot standby. While
300 orders flow from clients spread over both API ports, one API replica is SIGKILLed (its
clients move to the other, repeating what was in flight with the same Idempotency-Key), and
the saga group's active worker is SIGKILLed (its standby takes over).

Afterwards: every order the clients placed exists exactly once and was accepted, no order
exists that no client placed, every view equals a replay of the events, and no client saw an
error apart from the killed replica's broken connections."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx

from domain.order import OrderStatus
from domain.values import Role
from projections.registry import EVERY_VIEW, HOT_VIEWS, PROJECTIONS
from tests.api_process import ApiServer, api_server, process_environ, server_environ
from tests.e2e.test_cli import TIFFIN
from tests.e2e.workers import Workers, settings_of
from tests.polling import Seen, poll_until, poll_until_async
from tests.redis_server import REDIS_URL, scratch_prefix
from tests.scenario import open_kitchen
from tests.view_digest import view_digest
from tests.view_replay import caught_up, hot_views, replayed_hot_views, replayed_views
from wiring.bootstrap import Tiffin, bootstrap
from wiring.workers import projector

ORDERS = 300
CLIENTS = 8
KILL_API_AT, KILL_WORKER_AT = 100, 200  # orders placed
SAGA_AND_OUTBOX = ("ordering", "payments", "deliveries", "deadlines", "inbox", "outbox")
GROUPS = {  # Compose's saga and outbox groups in one here: PostgreSQL allows 100 connections
    "saga": (*SAGA_AND_OUTBOX, "reconcile", "simulated_webhooks"),
    "views": tuple(EVERY_VIEW),
}
SETTLE_SECONDS = 120.0
ANSWER_WITHIN = 30.0  # a request answered, or an order paid, within


@dataclass
class Clients:
    """The apps: each request goes to the client's replica, or to the other one while its own
    is unreachable, with the same Idempotency-Key."""

    servers: list[ApiServer]
    owner_token: str
    restaurant_id: str
    item_id: str
    http: list[httpx.AsyncClient] = field(default_factory=list)
    placed: dict[str, str] = field(default_factory=dict)  # client key -> order id
    broken: Counter[str] = field(default_factory=Counter)  # connection failures, by replica
    errors: list[str] = field(default_factory=list)  # anything else that was not a success
    lost_answers: int = 0  # commands done by the killed replica, their answer lost with it
    down: set[int] = field(default_factory=set)
    broke: set[str] = field(default_factory=set)  # requests (by key) a broken connection hit
    reached: dict[int, asyncio.Event] = field(default_factory=dict)  # orders placed -> set

    def placed_at_least(self, count: int) -> asyncio.Event:
        """Set once the clients have placed ``count`` orders."""
        event = self.reached.setdefault(count, asyncio.Event())
        self._count_placed()
        return event

    def _count_placed(self) -> None:
        for count, event in self.reached.items():
            if len(self.placed) >= count:
                event.set()

    async def send(
        self, home: int, method: str, path: str, token: str, body: Any, key: str | None
    ) -> httpx.Response:
        """One request, tried again (on the other replica if its own broke) until answered
        with something but 409/503 + Retry-After (a key still in flight, a view behind)."""
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key

        async def attempt(seen: Seen) -> httpx.Response | None:
            replica = home if home not in self.down else 1 - home
            try:
                answer = await self.http[replica].request(method, path, json=body, headers=headers)
            except httpx.TransportError as error:
                seen.last = error
                self.broken[self.servers[replica].base_url] += 1
                self.broke.add(key or path)
                self.down.add(replica)  # its clients move to the other replica
                return None
            seen.last = f"{answer.status_code} {answer.text[:200]}"
            retry = answer.status_code in (409, 503) and "retry-after" in answer.headers
            return None if retry else answer

        return await poll_until_async(attempt, within=ANSWER_WITHIN, what=f"{method} {path}")

    async def one_order(self, home: int, customer: str) -> None:
        key = f"order-{uuid4().hex}"
        body = {
            "restaurant_id": self.restaurant_id,
            "items": [{"menu_item_id": self.item_id, "quantity": 1, "notes": ""}],
            "delivery_address": {
                "line1": "4 Church Street",
                "city": "Bengaluru",
                "postal_code": "560001",
                "location": {"lat": 12.975, "lng": 77.605},
            },
            "payment": {"method": "upi", "vpa": "cust@okbank"},
        }
        placed = await self.send(home, "POST", "/v1/orders", customer, body, key)
        if placed.status_code != 201:
            self.errors.append(f"place: {placed.status_code} {placed.text[:200]}")
            return
        order_id = placed.json()["id"]
        self.placed[key] = order_id
        self._count_placed()

        async def paid(seen: Seen) -> bool | None:  # by the simulated gateway, via the saga
            read = await self.send(
                home, "GET", f"/v1/orders/{order_id}", self.owner_token, None, None
            )
            seen.last = f"{read.status_code} {read.text[:200]}"
            assert read.status_code == 200, f"read: {seen.last}"
            return True if read.json()["status"] == "pending_acceptance" else None

        await poll_until_async(paid, within=ANSWER_WITHIN, what="the order paid")
        accept = {"prep_minutes": 10}
        path = f"/v1/orders/{order_id}/accept"
        accepted = await self.send(home, "POST", path, self.owner_token, accept, f"accept-{key}")
        if accepted.status_code == 409 and f"accept-{key}" in self.broke:
            # The killed replica accepted it, and died before its answer was kept: the retry
            # (after taking over the claim) finds the order accepted already.
            self.lost_answers += 1
        elif accepted.status_code != 200:
            self.errors.append(f"accept: {accepted.status_code} {accepted.text[:200]}")


def topology_environ(database_url: str, prefix: str) -> dict[str, str]:
    return {
        "TIFFIN_DATABASE_URL": database_url,
        "TIFFIN_REDIS_URL": REDIS_URL,
        "TIFFIN_REDIS_PREFIX": prefix,
        "TIFFIN_CREATE_TABLES": "false",
        "TIFFIN_SIMULATED_CAPTURE_SECONDS": "0.2",
        "TIFFIN_DATABASE_POOL_SIZE": "1",
        "TIFFIN_DATABASE_POOL_OVERFLOW": "2",
        "TIFFIN_RATE_LIMIT_ORDERS_PER_MINUTE": "1000000",
        "TIFFIN_RATE_LIMIT_PER_MINUTE": "1000000",
        "TIFFIN_WORKER_POLL_SECONDS": "0.1",
        "TIFFIN_COMPONENT_GIVE_UP_SECONDS": "5",
        "TIFFIN_IDEMPOTENCY_CLAIM_SECONDS": "2",  # a dead replica's claims are taken over soon
    }


def active_worker(tiffin: Tiffin, component: str) -> int:
    """The pid of the worker process running the component now (the health board's)."""

    def running(seen: Seen) -> int | None:
        rows = [r for r in tiffin.health_board().rows() if r.component == component]
        seen.last = [(r.worker, r.state) for r in rows]
        owners = [r.worker for r in rows if r.state == "running"]
        return int(owners[0].rsplit(":", 1)[1]) if owners else None

    return poll_until(running, within=30.0, what=f"the worker running {component}")


def test_orders_survive_a_killed_api_replica_and_a_killed_active_worker(
    database_url: str, postgres_url: str, tmp_path: Path
) -> None:
    assert TIFFIN is not None
    began = time.monotonic()
    with scratch_prefix() as prefix, scratch_prefix() as replay_prefix:
        shared = topology_environ(postgres_url, prefix)
        environs = [server_environ(tmp_path / f"api-{n}", **shared) for n in "ab"]
        base = process_environ(environs[0])
        migrated = subprocess.run([TIFFIN, "migrate"], env=base, capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
        tiffin = bootstrap(settings_of(base))
        kitchen = open_kitchen(tiffin)
        groups = {
            name: Workers(base, tmp_path / f"workers-{name}", only=components)
            for name, components in GROUPS.items()
        }
        a_killed = False
        try:
            with (
                api_server(environs[0], killed=lambda: a_killed) as a,
                api_server(environs[1]) as b,
            ):
                for workers in groups.values():
                    for worker in (workers.start(), workers.start()):
                        workers.wait_running(worker, timeout=30.0)
                clients = Clients(
                    [a, b],
                    a.token(kitchen.owner.actor_id, Role.RESTAURANT),
                    str(kitchen.restaurant.id),
                    str(kitchen.dosa.id),
                )

                async def traffic() -> None:
                    nonlocal a_killed
                    contexts = [s.ssl_context() for s in (a, b)]
                    clients.http = [
                        httpx.AsyncClient(base_url=s.base_url, verify=c, timeout=30.0)
                        for s, c in zip((a, b), contexts, strict=True)
                    ]
                    queue: asyncio.Queue[int] = asyncio.Queue()
                    for n in range(ORDERS):
                        queue.put_nowait(n)

                    async def client(number: int) -> None:
                        customer = a.token(f"topology-customer-{number}", Role.CUSTOMER)
                        while not queue.empty():
                            queue.get_nowait()
                            await clients.one_order(number % 2, customer)

                    async def killer() -> None:
                        nonlocal a_killed
                        await clients.placed_at_least(KILL_API_AT).wait()
                        a_killed = True
                        a.process.kill()
                        await clients.placed_at_least(KILL_WORKER_AT).wait()
                        saga = groups["saga"]
                        pid = active_worker(tiffin, "ordering")
                        [victim] = [w for w in saga.processes if w.process.pid == pid]
                        saga.kill(victim)  # and a new standby takes the old one's place

                    try:
                        await asyncio.gather(killer(), *(client(n) for n in range(CLIENTS)))
                    finally:
                        for http in clients.http:
                            await http.aclose()

                asyncio.run(traffic())
                flowed = time.monotonic() - began
                projectors = [projector(tiffin, tiffin.views(), name) for name in GROUPS["views"]]
                assert caught_up(projectors, time.monotonic() + SETTLE_SECONDS)
        finally:
            for workers in groups.values():
                workers.stop()

        placed_ids = set(clients.placed.values())
        stored = {
            str(n.originator_id)
            for n in tiffin.ordering.recorder.select_notifications(start=1, limit=1_000_000)
            if n.topic.endswith("Order.Placed")
        }
        statuses = Counter(tiffin.ordering.get_order(UUID(o)).status for o in stored)
        views = {name: view_digest(tiffin.views(), p) for name, p in PROJECTIONS.items()}
        hot = hot_views(tiffin, prefix)
        replayed = replayed_views(tiffin, database_url)
        replayed_hot = replayed_hot_views(tiffin, replay_prefix)
        tiffin.close()
    print(
        f"\ntopology under kills: {len(placed_ids)} orders through 2 replicas and "
        f"{sum(len(w.processes) for w in groups.values())} workers in {flowed:.1f} s; API "
        f"replica SIGKILLed at {KILL_API_AT} placed, {dict(clients.broken)} broken connections; "
        f"{clients.lost_answers} answers lost with it; "
        f"the saga's active worker SIGKILLed at {KILL_WORKER_AT}"
    )
    assert clients.errors == []
    assert len(clients.placed) == ORDERS
    assert stored == placed_ids, "every order placed once, and only those"
    assert statuses == {OrderStatus.ACCEPTED: ORDERS}
    assert set(clients.broken) <= {a.base_url}, "only the killed replica's connections broke"
    for name in PROJECTIONS:
        assert views[name] == replayed[name], f"{name} differs from its replay"
    for name in HOT_VIEWS:
        assert hot[name].get("positions"), f"{name} never ran"
        assert hot[name] == replayed_hot[name], f"{name} differs from its replay"
