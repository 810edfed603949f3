"""Small builders over the HTTP API (``tests.api_server``): users and their tokens, an online
restaurant with a menu, a courier on shift somewhere, orders placed and paid with a signed
webhook, and bounded waits on the saga's progress (polled, never slept for)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx

from application.webhooks import signature_header
from domain.courier import courier_id_for
from domain.values import Role
from tests.api_server import WEBHOOK_SECRET, ApiServer, new_subject
from tests.polling import Seen, poll_until

WAIT_SECONDS = 20.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class User:
    sub: str
    role: Role
    headers: dict[str, str] = field(repr=False)

    @property
    def courier_id(self) -> str:
        """The courier profile id of this user (it derives from the user's id)."""
        return str(courier_id_for(self.sub))


@dataclass
class Api:
    """One client of one server, with the users it makes tokens for."""

    server: ApiServer
    client: httpx.Client

    def user(self, role: Role, sub: str | None = None) -> User:
        sub = sub or new_subject(role)
        return User(sub, role, self.server.auth(role, sub))

    def call(self, user: User | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**(user.headers if user else {}), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def expect(self, status: int, user: User | None, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a call that must answer ``status``."""
        response = self.call(user, method, path, **kwargs)
        assert response.status_code == status, (
            f"{method} {path} as {user}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def wait_for(
        self, path: str, done: Callable[[httpx.Response], bool], what: str
    ) -> httpx.Response:
        """Polls GET ``path`` as an admin until ``done`` (the platform's workers run in a
        thread of their own); fails after ``WAIT_SECONDS``."""
        admin = self.user(Role.ADMIN, "poller")

        def look(seen: Seen) -> httpx.Response | None:
            response = self.call(admin, "GET", path)
            seen.last = response.text
            return response if done(response) else None

        return poll_until(look, within=WAIT_SECONDS, what=what, every=POLL_SECONDS)


def somewhere() -> dict[str, float]:
    """A random spot in India: couriers put exactly there are the nearest to it."""
    return {"lat": round(random.uniform(9, 28), 6), "lng": round(random.uniform(72, 88), 6)}


@dataclass
class Kitchen:
    id: str
    owner: User
    items: list[str]
    location: dict[str, float]
    position: int


def restaurant_body(location: dict[str, float] | None = None) -> dict[str, Any]:
    return {
        "name": f"Kitchen {uuid4().hex[:6]}",
        "cuisine": "south indian",
        "address": "12 MG Road, Bengaluru",
        "location": location or somewhere(),
    }


def item_body(price: str = "120.00", available: bool = True) -> dict[str, Any]:
    return {"name": f"Dosa {uuid4().hex[:6]}", "price": price, "available": available}


def open_kitchen(api: Api, owner: User | None = None, items: int = 2) -> Kitchen:
    """A restaurant with ``items`` available menu items, online."""
    owner = owner or api.user(Role.RESTAURANT)
    created = api.expect(201, owner, "POST", "/v1/restaurants", json=restaurant_body())
    path = f"/v1/restaurants/{created['id']}"
    ids = [
        api.expect(201, owner, "POST", f"{path}/menu/items", json=item_body())["id"]
        for _ in range(items)
    ]
    online = api.expect(200, owner, "PUT", f"{path}/status", json={"online": True})
    return Kitchen(created["id"], owner, ids, created["location"], online["position"])


def courier_at(
    api: Api, location: dict[str, float], user: User | None = None, on_shift: bool = True
) -> User:
    """A registered courier, on shift (or not), last seen at ``location``."""
    user = user or api.user(Role.COURIER)
    body = {"name": "Ravi", "vehicle_type": "scooter"}
    api.expect(201, user, "POST", "/v1/couriers", json=body)
    api.expect(200, user, "PUT", "/v1/couriers/me/shift", json={"on_shift": on_shift})
    api.expect(204, user, "PUT", "/v1/couriers/me/location", json=location)
    return user


def order_body(kitchen: Kitchen, quantity: int = 1, item: str | None = None) -> dict[str, Any]:
    return {
        "restaurant_id": kitchen.id,
        "items": [{"menu_item_id": item or kitchen.items[0], "quantity": quantity}],
        "delivery_address": {
            "line1": "48 Residency Road",
            "city": "Bengaluru",
            "postal_code": "560025",
            "location": {"lat": kitchen.location["lat"] + 0.02, "lng": kitchen.location["lng"]},
        },
        "payment": {"method": "upi", "vpa": "asha@okbank"},
    }


def place(api: Api, customer: User, kitchen: Kitchen, **kwargs: Any) -> dict[str, Any]:
    placed: dict[str, Any] = api.expect(
        201, customer, "POST", "/v1/orders", json=order_body(kitchen), **kwargs
    )
    return placed


def status_is(*statuses: str) -> Callable[[httpx.Response], bool]:
    return lambda response: response.status_code == 200 and response.json()["status"] in statuses


def webhook(api: Api, payment_id: str, amount: dict[str, str]) -> httpx.Response:
    """The gateway says the payment was captured (signed as a real gateway would)."""
    body = {
        "id": f"evt_{uuid4().hex}",
        "type": "payment.captured",
        "payment_id": payment_id,
        "gateway_ref": f"UTR{uuid4().hex[:10]}",
        "amount": amount,
    }
    raw = json.dumps(body).encode()
    signature = signature_header(WEBHOOK_SECRET.encode(), raw, int(time.time()))
    headers = {"Tiffin-Signature": signature, "Content-Type": "application/json"}
    return api.client.post("/v1/payments/webhook", content=raw, headers=headers)


def pay(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    """Captures the order's payment once the saga has requested it; the order as paid."""
    payment = f"/v1/payments/{order['payment']['id']}"
    api.wait_for(payment, lambda r: r.status_code == 200, "the payment is requested")
    answer = webhook(api, order["payment"]["id"], order["total"])
    assert answer.status_code == 200, answer.text
    paid = api.wait_for(f"/v1/orders/{order['id']}", status_is("pending_acceptance"), "paid")
    return dict(paid.json())


def paid_order(api: Api, customer: User, kitchen: Kitchen) -> dict[str, Any]:
    return pay(api, place(api, customer, kitchen))


def with_courier(api: Api, order_id: str) -> dict[str, Any]:
    """The order once the saga has assigned it a courier, and the tracking view shows it."""
    path = f"/v1/orders/{order_id}"
    found = api.wait_for(path, lambda r: r.json().get("courier_id") is not None, "a courier")
    api.wait_for(
        f"{path}/status", lambda r: r.json().get("courier_id") is not None, "tracked courier"
    )
    return dict(found.json())
