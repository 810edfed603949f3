"""The API benchmark's plan: the restaurant seeded through the API, each client's customer
token, the requests of each (protocol, client, endpoint) step, and waiting for the server and
worker to go idle between steps."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from application.settings import load_settings
from bench.api_clients import Client, Headers, open_clients
from bench.api_drive import Load, Request, drive
from bench.api_server import ApiStack
from bench.seed import MENU
from domain.values import Role
from wiring.tokens import platform_tokens

TOKEN_TTL = 6 * 3600
HEALTHZ, ORDERS, STATUS = "GET /healthz", "POST /v1/orders", "GET /v1/orders/{id}/status"
CLIENT_NAMES = {
    "raw": "asyncio+ssl, 1 conn/client",
    "httpx": "httpx, 1 conn/client",
    "h3": "aioquic, 1 QUIC conn/client",
    "h3-shared": "aioquic, 1 QUIC conn shared",
}
TIFFIN, CRUD = "tiffin", "CRUD"
IDLE_CORES = 0.1  # below this much CPU the server and worker have caught up
SETTLE_WITHIN_SECONDS = 300.0
NO_HEADERS: Headers = {}
BENGALURU = {"lat": 12.9716, "lng": 77.5946}
RESTAURANT = {
    "name": "Bench Tiffin Centre",
    "cuisine": "south indian",
    "address": "1 MG Road, Bengaluru",
    "location": BENGALURU,
}
ORDER = {
    "delivery_address": {
        "line1": "12 Residency Road",
        "city": "Bengaluru",
        "postal_code": "560025",
        "location": {"lat": 12.9731, "lng": 77.6003},
    },
    "payment": {"method": "upi", "vpa": "customer@okbank"},
}


@dataclass(frozen=True)
class Step:
    protocol: str
    client: str
    endpoint: str
    clients: int | None = None  # None: as many as the run's --clients
    target: str = TIFFIN  # or CRUD: the baseline without event sourcing (bench.crud_server)

    @property
    def label(self) -> str:
        return self.endpoint if self.target == TIFFIN else f"{self.endpoint} [{self.target}]"

    def describe(self) -> str:
        return f"{self.protocol} {self.label} ({CLIENT_NAMES[self.client]})"


class Plan:
    """The seeded restaurant and each client's customer token, and the steps measured on them."""

    def __init__(
        self, stack: ApiStack, clients: int, seconds: float, crud: ApiStack | None = None
    ) -> None:
        self.stack, self.clients, self.seconds = stack, clients, seconds
        self.stacks = {TIFFIN: stack, **({CRUD: crud} if crud is not None else {})}
        tokens = platform_tokens(load_settings({"TIFFIN_JWT_SECRET": stack.jwt_secret.decode()}))
        self.owner = _auth(tokens.issue("bench-owner", Role.RESTAURANT, TOKEN_TTL))
        self.customers = [
            _auth(tokens.issue(f"bench-customer-{n}", Role.CUSTOMER, TOKEN_TTL))
            for n in range(clients)
        ]
        self.order_body = b""
        self.menu: list[tuple[str, str, str]] = []  # (id, name, price) as seeded
        self.restaurant_id = ""
        self.tracked: list[str] = []  # per client: one order of its customer's

    async def seed(self) -> None:
        """A restaurant with the seed's menu, online, through the API."""
        async with AsyncExitStack() as stack:
            [client] = await self._open(stack, "raw", 1)
            restaurant = await _call(client, "POST", "/v1/restaurants", self.owner, 201, RESTAURANT)
            base = f"/v1/restaurants/{restaurant['id']}"
            menu = [
                await _call(client, "POST", f"{base}/menu/items", self.owner, 201, item)
                for item in ({"name": n, "price": p, "category": c} for n, p, c in MENU)
            ]
            await _call(client, "PUT", f"{base}/status", self.owner, 200, {"online": True})
        self.restaurant_id = restaurant["id"]
        self.menu = [(item["id"], item["name"], item["price"]["amount"]) for item in menu]
        lines = [
            {"menu_item_id": menu[0]["id"], "quantity": 2},
            {"menu_item_id": menu[-1]["id"], "quantity": 1, "notes": "less sugar"},
        ]
        order = {"restaurant_id": restaurant["id"], "items": lines, **ORDER}
        self.order_body = json.dumps(order).encode()

    def request_of(self, endpoint: str) -> Callable[[int], Request]:
        """A function from client number to its next request on ``endpoint``."""
        if endpoint == HEALTHZ:
            return lambda n: ("GET", "/healthz", NO_HEADERS, b"")
        if endpoint == STATUS:
            return lambda n: ("GET", f"/v1/orders/{self.tracked[n]}/status", self.customers[n], b"")
        json_type = {"content-type": "application/json"}

        def order(n: int) -> Request:
            headers = {**self.customers[n], **json_type, "idempotency-key": uuid4().hex}
            return "POST", "/v1/orders", headers, self.order_body

        return order

    async def run(self, step: Step) -> Load:
        target = self.stacks[step.target]
        async with AsyncExitStack() as stack:
            clients = await self._open(stack, step.client, step.clients or self.clients, target)
            if step.endpoint == STATUS:
                await self._track_orders(clients)
            expected = 201 if step.endpoint == ORDERS else 200
            requests = self.request_of(step.endpoint)
            return await drive(target, clients, requests, expected, self.seconds)

    async def _track_orders(self, clients: list[Client]) -> None:
        """Each client's customer places one order; then waits until the hot view has them."""
        order = self.request_of(ORDERS)
        placed = await asyncio.gather(*(_send(c, *order(n), 201) for n, c in enumerate(clients)))
        self.tracked = [order["id"] for order in placed]
        last = max(order["position"] for order in placed)
        deadline = time.monotonic() + SETTLE_WITHIN_SECONDS
        path = f"/v1/orders/{self.tracked[0]}/status?min_position={last}"
        while (answer := await clients[0].request("GET", path, self.customers[0]))[0] != 200:
            status, body = answer  # 503: not there yet (each try waits up to 5 s)
            if status != 503 or time.monotonic() > deadline:
                raise RuntimeError(f"the order tracking view has not the orders: {status} {body!r}")

    async def busy_cores(self, seconds: float = 1.0) -> float:
        """How busy the machine is (in cores) over ``seconds``: with the server and worker
        idle, that is everyone else's load."""
        before = self.stack.cpu_seconds()["machine"]
        await asyncio.sleep(seconds)
        return (self.stack.cpu_seconds()["machine"] - before) / seconds

    async def settle(self) -> float:
        """Waits until the server and the worker are idle (the saga and the views have taken
        in what the load wrote); returns how long that took."""
        began = time.monotonic()
        while time.monotonic() - began < SETTLE_WITHIN_SECONDS:
            before = self.stack.cpu_seconds()
            await asyncio.sleep(0.5)
            after = self.stack.cpu_seconds()
            busy = sum(after[k] - before[k] for k in ("server", "worker") if k in after) / 0.5
            if busy < IDLE_CORES:
                break
        return time.monotonic() - began

    async def _open(
        self, stack: AsyncExitStack, kind: str, count: int, target: ApiStack | None = None
    ) -> list[Client]:
        shared = kind == "h3-shared"
        kind = "h3" if shared else kind
        s = target or self.stack
        return await open_clients(stack, kind, count, s.host, s.port, s.cert, shared_h3=shared)


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _call(
    client: Client, method: str, path: str, headers: Headers, expected: int, document: Any
) -> Any:
    headers = {**headers, "content-type": "application/json"}
    return await _send(client, method, path, headers, json.dumps(document).encode(), expected)


async def _send(
    client: Client, method: str, path: str, headers: Headers, body: bytes, expected: int
) -> Any:
    status, answer = await client.request(method, path, headers, body)
    if status != expected:
        raise RuntimeError(f"{method} {path}: {status} (expected {expected}): {answer[:500]!r}")
    return json.loads(answer)
