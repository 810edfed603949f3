"""Idempotency-Key over HTTP: the same key and body sent 20 times at once (HTTP/2 streams on
one connection, or 20 HTTP/1.1 connections) creates one thing; a key is per user; the same key
with another body is refused. On the embedded default and in server mode."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from domain.values import Role
from tests.api_builders import Api, User, open_kitchen, order_body, paid_order, restaurant_body
from tests.api_server import ApiServer, serving

COPIES = 20
PROTOCOLS = {"http2": True, "http1": False}
COURIER = {"name": "Meena", "vehicle_type": "motorcycle", "license_plate": "KA01AB1234"}


@pytest.fixture(scope="module", params=["embedded", "server"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    database_url = request.getfixturevalue("database_url") if request.param == "server" else None
    with serving(request.param, tmp_path_factory.mktemp(request.param), database_url) as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Iterator[Api]:
    with server.client() as client:
        yield Api(server, client)


def at_once(
    server: ApiServer, http2: bool, user: User, path: str, key: str, body: dict[str, Any]
) -> list[httpx.Response]:
    """``COPIES`` identical POSTs in flight together."""

    async def send_all() -> list[httpx.Response]:
        headers = {**user.headers, "Idempotency-Key": key}
        async with server.async_client(http2=http2, connections=COPIES) as client:
            return await asyncio.gather(
                *(client.post(path, headers=headers, json=body) for _ in range(COPIES))
            )

    responses = asyncio.run(send_all())
    versions = {response.http_version for response in responses}
    assert versions == {"HTTP/2" if http2 else "HTTP/1.1"}
    return responses


def position_of(responses: list[httpx.Response]) -> int:
    return max(r.json().get("position") or 0 for r in responses if r.status_code < 300)


@pytest.mark.parametrize("http2", PROTOCOLS.values(), ids=PROTOCOLS.keys())
def test_one_order_for_twenty_concurrent_requests_with_one_key(api: Api, http2: bool) -> None:
    kitchen = open_kitchen(api)
    customer = api.user(Role.CUSTOMER)

    responses = at_once(api.server, http2, customer, "/v1/orders", "k-1", order_body(kitchen))

    assert Counter(r.status_code for r in responses) == {201: COPIES}, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    listed = api.expect(
        200, customer, "GET", "/v1/orders", params={"min_position": position_of(responses)}
    )
    assert [item["id"] for item in listed["items"]] == list(ids)


def test_an_order_key_reused_with_another_body_is_refused(api: Api) -> None:
    kitchen = open_kitchen(api)
    customer = api.user(Role.CUSTOMER)
    key = {"Idempotency-Key": uuid4().hex}
    first = api.expect(201, customer, "POST", "/v1/orders", json=order_body(kitchen), headers=key)

    other = api.call(customer, "POST", "/v1/orders", json=order_body(kitchen, 2), headers=key)

    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    again = api.expect(201, customer, "POST", "/v1/orders", json=order_body(kitchen), headers=key)
    assert again["id"] == first["id"]
    listed = api.expect(
        200, customer, "GET", "/v1/orders", params={"min_position": first["position"]}
    )
    assert [item["id"] for item in listed["items"]] == [first["id"]]


def test_order_keys_are_per_customer(api: Api) -> None:
    kitchen = open_kitchen(api)
    key = {"Idempotency-Key": "same-key"}
    alice, bob = api.user(Role.CUSTOMER), api.user(Role.CUSTOMER)

    hers = api.expect(201, alice, "POST", "/v1/orders", json=order_body(kitchen), headers=key)
    his = api.expect(201, bob, "POST", "/v1/orders", json=order_body(kitchen), headers=key)

    assert hers["id"] != his["id"]
    assert (hers["customer_id"], his["customer_id"]) == (alice.sub, bob.sub)


def courier_body() -> dict[str, Any]:
    return dict(COURIER)


CREATIONS: dict[str, tuple[Role, str, Callable[[], dict[str, Any]], str]] = {
    "restaurant": (Role.RESTAURANT, "/v1/restaurants", restaurant_body, "name"),
    "courier": (Role.COURIER, "/v1/couriers", courier_body, "name"),
}


@pytest.mark.parametrize("http2", PROTOCOLS.values(), ids=PROTOCOLS.keys())
@pytest.mark.parametrize("kind", CREATIONS)
def test_one_creation_for_twenty_concurrent_requests_with_one_key(
    api: Api, kind: str, http2: bool
) -> None:
    role, path, make_body, field = CREATIONS[kind]
    user, body, key = api.user(role), make_body(), uuid4().hex

    responses = at_once(api.server, http2, user, path, key, body)

    # While the first request runs, a repeat is told to retry (409 + Retry-After); never a
    # second creation, never a 5xx.
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    assert statuses[201] >= 1
    for busy in (r for r in responses if r.status_code == 409):
        assert int(busy.headers["retry-after"]) >= 1
        assert busy.headers["content-type"] == "application/problem+json"
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    print(f"{kind} over {'HTTP/2' if http2 else 'HTTP/1.1'}: {dict(statuses)}")

    replay = api.call(user, "POST", path, json=body, headers={"Idempotency-Key": key})
    assert (replay.status_code, replay.json()["id"]) == (201, *created)
    changed = {**body, field: "Another name"}
    refused = api.call(user, "POST", path, json=changed, headers={"Idempotency-Key": key})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    if kind == "restaurant":
        position = {"min_position": position_of(responses)}
        listed = api.expect(200, user, "GET", "/v1/restaurants", params={**position, "limit": 100})
        assert [r["id"] for r in listed["items"] if r["owner_id"] == user.sub] == list(created)


@pytest.mark.parametrize("kind", CREATIONS)
def test_creation_keys_are_per_user(api: Api, kind: str) -> None:
    role, path, make_body, _ = CREATIONS[kind]
    body, key = make_body(), {"Idempotency-Key": "shared"}

    first = api.expect(201, api.user(role), "POST", path, json=body, headers=key)
    second = api.expect(201, api.user(role), "POST", path, json=body, headers=key)

    assert first["id"] != second["id"]


def test_a_state_change_retried_with_its_key_gets_the_first_answer_not_a_conflict(
    api: Api,
) -> None:
    kitchen = open_kitchen(api)
    order = paid_order(api, api.user(Role.CUSTOMER), kitchen)
    path, key = f"/v1/orders/{order['id']}/accept", f"accept-{uuid4().hex}"
    keyed = {"headers": {"Idempotency-Key": key}, "json": {"prep_minutes": 12}}

    first = api.expect(200, kitchen.owner, "POST", path, **keyed)
    again = api.expect(200, kitchen.owner, "POST", path, **keyed)  # its answer was lost
    unkeyed = api.call(kitchen.owner, "POST", path, json={"prep_minutes": 12})
    other_body = api.call(
        kitchen.owner, "POST", path, headers={"Idempotency-Key": key}, json={"prep_minutes": 30}
    )

    assert again == first
    assert first["status"] == "accepted"
    assert unkeyed.status_code == 409, unkeyed.text  # a real second acceptance
    assert unkeyed.json()["current_status"] == "accepted"
    assert other_body.status_code == 422, other_body.text


def test_put_and_patch_changes_retried_with_their_key_get_the_first_answer(api: Api) -> None:
    kitchen = open_kitchen(api)
    status_path = f"/v1/restaurants/{kitchen.id}/status"
    key = {"Idempotency-Key": f"offline-{uuid4().hex}"}

    first = api.expect(200, kitchen.owner, "PUT", status_path, headers=key, json={"online": False})
    again = api.expect(200, kitchen.owner, "PUT", status_path, headers=key, json={"online": False})
    refused = api.call(kitchen.owner, "PUT", status_path, headers=key, json={"online": True})

    assert again == first
    assert first["online"] is False
    assert refused.status_code == 422, refused.text  # the same key with another body
