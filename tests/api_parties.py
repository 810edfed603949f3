"""The parties of one order over the HTTP API: a restaurant with a menu, online; a courier on
shift, located; a customer. Each ``Parties`` has users and a place of its own, so that many of
them on one server do not meet (the saga assigns the courier nearest to the restaurant)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx

from domain.values import Role
from tests.api_checks import Reply, Send, expect, position_of, rupees
from tests.api_process import ApiServer

Mint = Callable[[str, Role], str]
Sign = Callable[[bytes], str]
CONCURRENT_CHANGE_RETRIES = 5
DISHES = (("Masala dosa", "120.00", 2), ("Filter coffee", "45.50", 3))  # name, price, quantity


def somewhere(seed: int) -> dict[str, float]:
    """A place in India chosen by ``seed``: other lifecycles' are kilometres away."""
    return {"lat": 8 + seed % 2_000_000 / 100_000, "lng": 70 + (seed >> 32) % 1_700_000 / 100_000}


class Parties:
    def __init__(self, send: Send, mint: Mint, sign: Sign, delivery_fee: Decimal) -> None:
        self.send, self.sign, self.delivery_fee = send, sign, delivery_fee
        self.tag = uuid4().hex[:12]
        self.subjects = {
            role: f"{role}-{self.tag}" for role in ("restaurant", "courier", "customer")
        }
        self.restaurant = mint(self.subjects["restaurant"], Role.RESTAURANT)
        self.courier = mint(self.subjects["courier"], Role.COURIER)
        self.customer = mint(self.subjects["customer"], Role.CUSTOMER)
        self.kitchen = somewhere(uuid4().int)
        self.home = {"lat": self.kitchen["lat"] + 0.02, "lng": self.kitchen["lng"] + 0.01}
        self.restaurant_id = self.courier_id = ""
        self.lines: list[tuple[str, Decimal, int]] = []  # menu item id, price, quantity

    async def call(
        self,
        method: str,
        path: str,
        token: str | None,
        status: int,
        what: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The body of the answer, which must have ``status``. A command that met a change
        made meanwhile by the saga (409, "changed concurrently; reload and retry") is retried,
        as the answer asks, a few times."""
        for _ in range(CONCURRENT_CHANGE_RETRIES):
            reply = await self.send(method, path, token, body, headers)
            if reply.status != 409 or "changed concurrently" not in str(reply.body):
                break
        return expect(reply, status, what)

    async def open_restaurant(self) -> None:
        """Registers the restaurant, adds the dishes to its menu and takes it online."""
        body = {
            "name": f"Udupi {self.tag}",
            "cuisine": "south indian",
            "address": "12 MG Road",
            "location": self.kitchen,
            "opening_hours": "08:00-22:00",
        }
        created = await self.call(
            "POST", "/v1/restaurants", self.restaurant, 201, "registering", body
        )
        assert created["owner_id"] == self.subjects["restaurant"]
        assert (created["online"], created["menu"], created["location"]) == (
            False,
            [],
            self.kitchen,
        )
        self.restaurant_id, position = created["id"], position_of(created)
        menu = f"/v1/restaurants/{self.restaurant_id}/menu/items"
        for name, price, quantity in DISHES:
            dish = {
                "name": name,
                "price": {"amount": price, "currency": "INR"},
                "category": "mains",
            }
            item = await self.call("POST", menu, self.restaurant, 201, "adding a dish", dish)
            assert (item["name"], item["available"]) == (name, True)
            assert item["price"] == rupees(Decimal(price))
            position = position_of(item, after=position)  # the Restaurants log, in order
            self.lines.append((item["id"], Decimal(price), quantity))
        status = f"/v1/restaurants/{self.restaurant_id}/status"
        opened = await self.call(
            "PUT", status, self.restaurant, 200, "going online", {"online": True}
        )
        assert opened["online"] is True
        assert [item["id"] for item in opened["menu"]] == [line[0] for line in self.lines]
        position_of(opened, after=position)

    async def start_courier(self) -> None:
        """Registers the courier, starts the shift and reports where they are: at the kitchen."""
        body = {
            "name": f"Ravi {self.tag}",
            "vehicle_type": "scooter",
            "license_plate": "KA01AB1234",
        }
        created = await self.call("POST", "/v1/couriers", self.courier, 201, "registering", body)
        assert (created["owner_id"], created["vehicle_type"], created["on_shift"]) == (
            self.subjects["courier"],
            "scooter",
            False,
        )
        self.courier_id = created["id"]
        shift = await self.shift(on=True)
        assert shift["id"] == self.courier_id
        position_of(shift, after=position_of(created))  # the Deliveries log
        await self.ping(self.kitchen)

    async def shift(self, *, on: bool) -> Any:
        path = "/v1/couriers/me/shift"
        shift = await self.call("PUT", path, self.courier, 200, "the shift", {"on_shift": on})
        assert shift["on_shift"] is on
        return shift

    async def ping(self, where: dict[str, float]) -> None:
        reply = await self.send("PUT", "/v1/couriers/me/location", self.courier, where)
        assert (reply.status, reply.body) == (204, None), f"a location ping: {reply}"


def register_restaurant(api: ApiServer, cuisine: str) -> tuple[str, int]:
    """A restaurant of ``cuisine`` (registered over HTTP/1.1); its id and position."""
    token = api.token(f"restaurant-{uuid4().hex[:12]}", Role.RESTAURANT)
    body = {"name": "Tiffin Box", "cuisine": cuisine, "address": "1 Residency Road",
            "location": {"lat": 12.97, "lng": 77.6}}  # fmt: skip
    with httpx.Client(base_url=api.base_url, verify=api.ssl_context()) as client:
        response = client.post(
            "/v1/restaurants", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    created = expect(
        Reply(response.status_code, response.headers, response.json()), 201, "registering"
    )
    return created["id"], position_of(created)
