"""Fuzzing every operation of /openapi.json with hypothesis: path parameters that name real
resources or nothing, query parameters and JSON bodies from the schemas or junk (wrong types,
unknown fields, huge strings, nulls, bytes that are not JSON), each role's token or none.
Never a 5xx; every answer JSON (problem+json with its status for errors); every success valid
against the operation's response schema. Run with ``-s`` for the counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from domain.delivery import delivery_id_for
from domain.values import Role
from tests.api_builders import (
    Api,
    User,
    courier_at,
    open_kitchen,
    order_body,
    paid_order,
    place,
    restaurant_body,
    with_courier,
)
from tests.api_server import ROLES, serving
from tests.openapi_fuzz import SMALL_JUNK, Spec, deref, describe, judge, send, values

EXAMPLES = 30  # per operation
# Admins may call every route, so they reach the handlers most often; parties too.
CALLERS = (None, *ROLES, Role.ADMIN, Role.ADMIN, Role.ADMIN)
BODIES = ("valid", "valid", "junk", "bytes", "none")
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300).map(
    str.strip
)


@dataclass
class World:
    api: Api
    spec: Spec
    ids: dict[str, list[str]]
    users: dict[Role, User]
    statuses: Counter[int] = field(default_factory=Counter)
    cases: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", params=["embedded", "server"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A server with a restaurant, a courier on shift and orders waiting, paid and assigned."""
    database_url = request.getfixturevalue("database_url") if request.param == "server" else None
    data_dir = tmp_path_factory.mktemp(request.param)
    serve = serving(request.param, data_dir, database_url, READ_WAIT_SECONDS="0.2")
    with serve as server, server.client() as client:
        api = Api(server, client)
        kitchen, other = open_kitchen(api, items=3), open_kitchen(api)
        courier = courier_at(api, kitchen.location)
        customer = api.user(Role.CUSTOMER)
        waiting, paid = place(api, customer, kitchen), paid_order(api, customer, kitchen)
        moving = paid_order(api, customer, kitchen)
        api.expect(
            200,
            kitchen.owner,
            "POST",
            f"/v1/orders/{moving['id']}/accept",
            json={"prep_minutes": 5},
        )
        with_courier(api, moving["id"])
        orders = [waiting, paid, moving]
        ids = {
            "restaurant_id": [kitchen.id, other.id],
            "item_id": [*kitchen.items, *other.items],
            "order_id": [o["id"] for o in orders],
            "payment_id": [o["payment"]["id"] for o in orders],
            "delivery_id": [str(delivery_id_for(moving["id"]))],
        }
        users = {role: api.user(role) for role in ROLES}
        users.update(
            {Role.CUSTOMER: customer, Role.RESTAURANT: kitchen.owner, Role.COURIER: courier}
        )
        yield World(api, api.expect(200, None, "GET", "/openapi.json"), ids, users)


def test_no_operation_answers_a_5xx_or_off_its_schema(world: World) -> None:
    operations = [
        (method.upper(), path, operation)
        for path, methods in world.spec["paths"].items()
        for method, operation in methods.items()
    ]
    for method, path, operation in operations:
        fuzz(world, method, path, operation)

    total = sum(world.cases.values())
    statuses = dict(sorted(world.statuses.items()))
    print(f"\nfuzz: {len(operations)} operations, {total} cases; statuses {statuses}")
    for name, count in sorted(world.cases.items()):
        print(f"  {count:4} {name}")
    assert len(world.cases) == len(operations)
    assert not world.failures, f"{len(world.failures)} bad answers:\n" + "\n".join(
        world.failures[:30]
    )


def fuzz(world: World, method: str, path: str, operation: dict[str, Any]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def case(data: st.DataObject) -> None:
        request = draw_request(world, data, method, path, operation)
        try:
            answer = send(world.api.client, request)
        except httpx.TransportError as error:
            world.failures.append(f"{describe(request)}: no answer ({error!r})")
            return
        world.cases[f"{method} {path}"] += 1
        world.statuses[answer[0]] += 1
        for problem in judge(world.spec, operation, *answer):
            world.failures.append(f"{describe(request)} -> {answer[0]}: {problem}")

    case()


def draw_request(
    world: World, data: st.DataObject, method: str, path: str, operation: dict[str, Any]
) -> dict[str, Any]:
    role = data.draw(st.sampled_from(CALLERS), label="role")
    headers = dict(world.users[role].headers) if role else {}
    params: dict[str, str] = {}
    url = path
    for parameter in operation.get("parameters", []):
        name, where, schema = parameter["name"], parameter["in"], parameter.get("schema", {})
        if where == "path":
            known = st.sampled_from(world.ids.get(name) or ["none"])
            other = st.uuids().map(str) | st.text(min_size=1, max_size=40)
            value = data.draw(st.one_of(known, known, other), label=name)
            url = url.replace("{" + name + "}", quote(value, safe=""))
        elif not parameter.get("required") and data.draw(st.booleans(), label=f"omit {name}"):
            continue
        elif where == "query":
            params[name] = data.draw(query_values(world.spec, name, schema), label=name)
        elif where == "header":
            headers[name] = data.draw(HEADER_TEXT, label=name)
    request: dict[str, Any] = {"method": method, "url": url, "params": params, "headers": headers}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        kind = data.draw(st.sampled_from(BODIES), label="body")
        if kind in ("valid", "junk"):
            request["json"] = data.draw(
                values(world.spec, body["schema"], junk=kind == "junk"), label="json"
            )
        elif kind == "bytes":
            request["content"] = data.draw(st.binary(max_size=200), label="bytes")
            headers["Content-Type"] = "application/json"
    return request


def query_values(spec: Spec, name: str, schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """A query value from the schema (null left out: a query cannot say it) or junk text;
    ``min_position`` only within the logs' heads (beyond them is a 409 by design)."""
    if name == "min_position":
        return st.integers(0, 3).map(str) | st.text(max_size=10)
    options = [o for o in deref(spec, schema).get("anyOf", [schema]) if o.get("type") != "null"]
    typed = st.one_of(*(values(spec, option) for option in options))
    return typed.map(as_query) | SMALL_JUNK.map(as_query)


def as_query(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


EDGES = (  # each once caused a 5xx or a broken answer
    ("GET", "/v1/orders", {"status": "\x00"}),
    ("GET", "/v1/restaurants", {"cuisine": "nul\x00byte"}),
    ("GET", "/v1/orders", {"cursor": "WyJhIiwgImIiXQ"}),  # base64url of ["a", "b"]
    ("GET", "/v1/audit/orders/{order_id}/state", {"version": str(10**30)}),
    ("GET", "/v1/analytics/restaurants/{restaurant_id}/daily", {"from": "9999-12-31"}),
    ("GET", "/v1/analytics/couriers", {"from": "9999-12-31T23:59:59-14:00"}),
    ("GET", "/v1/analytics/orders.csv", {"from": "0001-01-01T00:00:00+14:00"}),
)


def test_values_at_the_edges_are_never_a_5xx(world: World) -> None:
    failures = []
    ids = {name: found[0] for name, found in world.ids.items()}
    for method, path, params in EDGES:
        operation = world.spec["paths"][path][method.lower()]
        url = path.format(**ids)
        request = {
            "method": method,
            "url": url,
            "params": params,
            "headers": world.users[Role.ADMIN].headers,
        }
        try:
            answer = send(world.api.client, request)
        except httpx.TransportError as error:
            failures.append(f"{describe(request)}: no complete answer ({error!r})")
            continue
        failures += [
            f"{describe(request)} -> {answer[0]}: {p}"
            for p in judge(world.spec, operation, *answer)
        ]
    assert not failures, "\n".join(failures)


def test_text_the_views_cannot_store_is_refused_or_shown(world: World) -> None:
    """A NUL character is refused (422), or what carries it is in the views at its position:
    never accepted and then missing from them."""
    api = world.api
    customer = api.user(Role.CUSTOMER)
    kitchen = open_kitchen(api)
    named = {**restaurant_body(), "name": "Nul\x00Kitchen"}

    restaurant = api.call(kitchen.owner, "POST", "/v1/restaurants", json=named)
    order = api.call(customer, "POST", "/v1/orders", json=order_body(kitchen))

    missing = []
    if restaurant.status_code != 422:
        assert restaurant.status_code == 201, restaurant.text
        created = restaurant.json()
        where = {"min_position": created["position"]}
        found = api.call(customer, "GET", f"/v1/restaurants/{created['id']}", params=where)
        missing += [] if found.status_code == 200 else [f"the restaurant: {found.text}"]
    assert order.status_code == 201, order.text
    path, reason = f"/v1/orders/{order.json()['id']}/cancel", {"reason": "\x00"}
    cancelled = api.call(customer, "POST", path, json=reason)
    if cancelled.status_code != 422:
        assert cancelled.status_code == 200, cancelled.text
        where = {"min_position": cancelled.json()["position"]}
        listed = api.expect(200, customer, "GET", "/v1/orders", params=where)
        statuses = [o["status"] for o in listed["items"] if o["id"] == order.json()["id"]]
        missing += [] if statuses == ["cancelled"] else [f"the cancelled order: {statuses}"]
    assert not missing, f"accepted, then missing from the views: {missing}"
