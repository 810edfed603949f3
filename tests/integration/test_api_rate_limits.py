"""Rate limits over HTTP, per user and route: the in-process limiter on the embedded default,
the Redis one in server mode. 1,000 requests in flight at once over HTTP/2 (ten connections of
100 streams) against 100 per minute."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from domain.values import Role
from tests.api_builders import Api, User, open_kitchen, order_body
from tests.api_server import ApiServer, serving

PER_MINUTE = 100
ANONYMOUS_PER_MINUTE = 30
WEBHOOKS_PER_MINUTE = 60
ORDERS_PER_MINUTE = 10  # the default
REQUESTS = 1_000
CONNECTIONS = 10  # Hypercorn allows 100 concurrent streams on each


@pytest.fixture(params=["embedded", "server"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    database_url = request.getfixturevalue("database_url") if request.param == "server" else None
    limits = {
        "RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
        "RATE_LIMIT_ORDERS_PER_MINUTE": str(ORDERS_PER_MINUTE),
        "RATE_LIMIT_ANONYMOUS_PER_MINUTE": str(ANONYMOUS_PER_MINUTE),
        "RATE_LIMIT_WEBHOOKS_PER_MINUTE": str(WEBHOOKS_PER_MINUTE),
    }
    with serving(request.param, tmp_path, database_url, **limits) as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Iterator[Api]:
    with server.client(http2=True) as client:
        yield Api(server, client)


async def burst(server: ApiServer, user: User, path: str) -> tuple[list[httpx.Response], float]:
    """``REQUESTS`` GETs of ``path`` in flight together; the answers and the seconds taken."""
    clients = [server.async_client(http2=True, connections=1) for _ in range(CONNECTIONS)]
    try:
        await asyncio.gather(*(client.get("/healthz") for client in clients))  # connected
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                clients[number % CONNECTIONS].get(path, headers=user.headers)
                for number in range(REQUESTS)
            )
        )
        return responses, time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()


def test_one_user_gets_the_limit_and_then_429s_and_others_are_not_affected(api: Api) -> None:
    user, other = api.user(Role.CUSTOMER), api.user(Role.CUSTOMER)

    responses, seconds = asyncio.run(burst(api.server, user, "/v1/restaurants"))

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 429}, statuses
    assert {r.http_version for r in responses} == {"HTTP/2"}
    # A sliding window: exactly the limit in any minute, however long the burst takes to serve.
    print(f"\n{REQUESTS} requests in {seconds:.2f} s: {dict(statuses)} (limit {PER_MINUTE})")
    assert seconds < 60, "the first requests left the window before the last were answered"
    assert (statuses[200], statuses[429]) == (PER_MINUTE, REQUESTS - PER_MINUTE)
    for refused in (r for r in responses if r.status_code == 429):
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["status"] == 429
        assert body["title"]
        assert body["detail"]
        assert body["type"]
    for allowed in (r for r in responses if r.status_code == 200):
        assert allowed.json()["items"] == []

    assert api.call(other, "GET", "/v1/restaurants").status_code == 200
    assert api.call(user, "GET", "/v1/orders").status_code == 200  # another route


def test_the_eleventh_order_within_a_minute_is_refused(api: Api) -> None:
    kitchen = open_kitchen(api)
    customer, neighbour = api.user(Role.CUSTOMER), api.user(Role.CUSTOMER)

    answers = [
        api.call(customer, "POST", "/v1/orders", json=order_body(kitchen))
        for _ in range(ORDERS_PER_MINUTE + 1)
    ]

    assert [a.status_code for a in answers] == [201] * ORDERS_PER_MINUTE + [429]
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    last = max(a.json()["position"] for a in answers[:-1])
    listed = api.expect(
        200, customer, "GET", "/v1/orders", params={"min_position": last, "limit": 100}
    )
    assert len(listed["items"]) == ORDERS_PER_MINUTE  # the refused one was not placed
    assert api.call(neighbour, "POST", "/v1/orders", json=order_body(kitchen)).status_code == 201


def test_requests_without_a_valid_token_are_limited_per_address_webhooks_on_their_own(
    api: Api,
) -> None:
    anonymous = Counter(api.client.get("/healthz").status_code for _ in range(2 * PER_MINUTE))
    refused_tokens = Counter(
        api.client.get("/v1/restaurants", headers={"Authorization": "Bearer nope"}).status_code
        for _ in range(10)
    )
    webhooks = Counter(
        api.client.post("/v1/payments/webhook", content=b"{}").status_code
        for _ in range(2 * WEBHOOKS_PER_MINUTE)
    )
    customer = api.user(Role.CUSTOMER)
    signed_in = api.call(customer, "GET", "/v1/restaurants")

    print(
        f"\nwithout a token: {dict(anonymous)}; bad tokens {dict(refused_tokens)}; "
        f"webhooks {dict(webhooks)}"
    )
    assert set(anonymous) == {200, 429}
    assert anonymous[200] <= ANONYMOUS_PER_MINUTE
    assert refused_tokens == {429: 10}, "a refused token counts against the address too"
    assert (webhooks[401], webhooks[429]) == (WEBHOOKS_PER_MINUTE, WEBHOOKS_PER_MINUTE)
    assert signed_in.status_code == 200, "a caller with a token has limits of their own"
