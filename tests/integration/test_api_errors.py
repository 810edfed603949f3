"""Errors over HTTP: every one is problem+json with its status in the body, none is a 500,
and a refused request changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from api.problems import ApiProblem
from api.view_reads import ViewReads
from domain.values import Role
from tests.api_builders import Api, courier_at, item_body, open_kitchen, order_body, paid_order
from tests.api_server import ApiServer, api_server, api_settings
from tests.raw_http import closed_within, read_response_head
from tests.scenario import cause, place
from tests.scenario import open_kitchen as scenario_kitchen
from wiring.bootstrap import bootstrap
from wiring.workers import projector

READ_WAIT_SECONDS = 0.2
LIMIT = 65_536  # TIFFIN_MAX_BODY_BYTES's default


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    settings = api_settings(
        tmp_path_factory.mktemp("errors"), READ_WAIT_SECONDS=str(READ_WAIT_SECONDS)
    )
    with api_server(settings) as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Iterator[Api]:
    with server.client() as client:
        yield Api(server, client)


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert body[key], body
    return body


def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    customer = api.user(Role.CUSTOMER)
    assert_problem(api.call(customer, "GET", "/v1/nothing-here"), 404)
    assert_problem(api.call(None, "GET", "/nothing"), 404)


def test_a_wrong_method_is_a_405_problem(api: Api) -> None:
    response = api.call(api.user(Role.ADMIN), "DELETE", "/v1/orders")
    assert_problem(response, 405)
    assert response.headers["allow"]


def oversized() -> Iterator[bytes]:
    """More than the limit, streamed: sent chunked (HTTP/1.1) or as DATA frames (HTTP/2),
    without a Content-Length."""
    for _ in range(2 * LIMIT // 8192 + 1):
        yield b" " * 8192


@pytest.mark.parametrize("streamed", [False, True], ids=["content_length", "streamed"])
@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_a_body_over_the_limit_is_a_413_problem(
    server: ApiServer, http2: bool, streamed: bool
) -> None:
    headers = {**server.auth(Role.CUSTOMER), "Content-Type": "application/json"}
    with server.client(http2=http2, timeout=5) as client:
        body = oversized() if streamed else b" " * (LIMIT + 1)
        response = client.post("/v1/orders", headers=headers, content=body)
        assert ("content-length" in response.request.headers) is not streamed
        assert_problem(response, 413)
        if http2:  # the other streams of the connection go on
            assert client.get("/v1/orders", headers=headers).status_code == 200


@pytest.mark.parametrize("streamed", [False, True], ids=["content_length", "streamed"])
def test_an_http1_connection_closed_after_a_413_says_so(server: ApiServer, streamed: bool) -> None:
    """RFC 9112 9.3: a server closing the connection after a response says ``Connection:
    close`` in it, else the client's next request on it fails."""
    head, closed = raw_oversized_post(server, streamed)

    assert head.startswith(b"HTTP/1.1 413"), head
    if closed:
        assert b"connection: close" in head.lower().split(b"\r\n"), head


def raw_oversized_post(server: ApiServer, streamed: bool) -> tuple[bytes, bool]:
    """The response head to an oversized POST over HTTP/1.1, and whether the server then
    closed the connection (within a second)."""
    size = 2 * LIMIT
    framing = "Transfer-Encoding: chunked" if streamed else f"Content-Length: {size}"
    token = server.auth(Role.CUSTOMER)["Authorization"]
    request = (
        f"POST /v1/orders HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()
    chunk = b" " * 8192
    body = (
        (b"2000\r\n" + chunk + b"\r\n") * (size // 8192) + b"0\r\n\r\n" if streamed else b" " * size
    )
    context = server.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.settimeout(5)
        with contextlib.suppress(OSError):
            tls.sendall(request + body)
        head = read_response_head(tls)
        return head, closed_within(tls, 1.0)


def test_a_request_answered_before_its_body_came_leaves_the_http1_connection_usable(
    server: ApiServer,
) -> None:
    """A 404 decided on the head alone (no such route), while the body is still on its way:
    the connection serves the next request, or the 404 said ``Connection: close`` (RFC 9112
    9.3). Else the client's next request on it fails."""
    context = server.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.settimeout(5)
        tls.sendall(
            b"PUT /v1/restaurants/" + str(uuid4()).encode() + b"/nothing HTTP/1.1\r\n"
            b"Host: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n"
        )
        closed_within(tls, 0.3)  # the body comes late, as over a slow network
        tls.sendall(b"https")
        first = read_response_head(tls)
        said_close = b"connection: close" in first.lower().split(b"\r\n")
        if not said_close:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            second = read_response_head(tls)

    assert first.startswith(b"HTTP/1.1 404"), first
    assert said_close or second.startswith(b"HTTP/1.1 200"), second


def test_requests_answered_before_their_body_leave_an_http2_connection_working(
    server: ApiServer,
) -> None:
    """POSTs refused (401) before their empty body has arrived must not end the connection
    other requests share."""
    with server.client(http2=True, timeout=5) as client:
        for _ in range(20):
            assert_problem(client.post(f"/v1/orders/{uuid4()}/ready"), 401)
        assert client.get("/healthz").status_code == 200


def test_malformed_json_is_a_400_and_an_unknown_field_a_422_naming_it(api: Api) -> None:
    customer = api.user(Role.CUSTOMER)
    kitchen = open_kitchen(api)
    raw = {"Content-Type": "application/json"}
    assert_problem(
        api.call(customer, "POST", "/v1/orders", content=b'{"items": [', headers=raw), 400
    )

    extra = {**order_body(kitchen), "tip": "50.00"}
    body = assert_problem(api.call(customer, "POST", "/v1/orders", json=extra), 422)
    assert ["body", "tip"] in [error["loc"] for error in body["errors"]]  # type: ignore[attr-defined]


def test_orders_that_cannot_be_placed_are_422s_and_nothing_is_placed(api: Api) -> None:
    customer = api.user(Role.CUSTOMER)
    kitchen = open_kitchen(api)
    path = f"/v1/restaurants/{kitchen.id}/menu/items"
    sold_out = api.expect(201, kitchen.owner, "POST", path, json=item_body(available=False))
    closed = open_kitchen(api)
    api.expect(
        200, closed.owner, "PUT", f"/v1/restaurants/{closed.id}/status", json={"online": False}
    )

    assert_problem(
        api.call(customer, "POST", "/v1/orders", json=order_body(kitchen, item=sold_out["id"])), 422
    )
    assert_problem(api.call(customer, "POST", "/v1/orders", json=order_body(closed)), 422)
    too_many = assert_problem(
        api.call(customer, "POST", "/v1/orders", json=order_body(kitchen, 51)), 422
    )
    assert ["body", "items", 0, "quantity"] in [e["loc"] for e in too_many["errors"]]  # type: ignore[attr-defined]

    placed = api.expect(201, customer, "POST", "/v1/orders", json=order_body(kitchen))
    listed = api.expect(
        200, customer, "GET", "/v1/orders", params={"min_position": placed["position"]}
    )
    assert [order["id"] for order in listed["items"]] == [placed["id"]]


def test_accepting_a_cancelled_order_is_a_409(api: Api) -> None:
    customer = api.user(Role.CUSTOMER)
    kitchen = open_kitchen(api)
    order = api.expect(201, customer, "POST", "/v1/orders", json=order_body(kitchen))
    path = f"/v1/orders/{order['id']}"
    api.expect(200, customer, "POST", f"{path}/cancel", json={"reason": "changed my mind"})

    assert_problem(
        api.call(kitchen.owner, "POST", f"{path}/accept", json={"prep_minutes": 10}), 409
    )
    assert api.expect(200, customer, "GET", path)["status"] == "cancelled"


def test_of_two_concurrent_accepts_one_wins_and_one_is_a_409(api: Api) -> None:
    kitchen = open_kitchen(api)
    courier_at(api, kitchen.location)
    order = paid_order(api, api.user(Role.CUSTOMER), kitchen)
    path = f"/v1/orders/{order['id']}/accept"

    async def both() -> list[httpx.Response]:
        async with api.server.async_client(http2=False, connections=2) as client:
            return await asyncio.gather(
                *(
                    client.post(path, headers=kitchen.owner.headers, json={"prep_minutes": m})
                    for m in (10, 20)
                )
            )

    answers = sorted(asyncio.run(both()), key=lambda response: response.status_code)

    assert [a.status_code for a in answers] == [200, 409], [a.text for a in answers]
    assert_problem(answers[1], 409)
    assert answers[0].json()["prep_minutes"] in (10, 20)


def test_a_position_beyond_the_head_of_its_log_is_a_409_at_once(api: Api) -> None:
    customer = api.user(Role.CUSTOMER)
    started = time.monotonic()

    response = api.call(customer, "GET", "/v1/orders", params={"min_position": 10**9})

    assert time.monotonic() - started < READ_WAIT_SECONDS, "no wait for what no write made"
    detail = assert_problem(response, 409)["detail"]
    assert f"position {10**9} is beyond the head of the Ordering log" in detail


def test_a_written_position_the_view_does_not_reach_is_a_503_after_the_wait(
    tmp_path: Path,
) -> None:
    with bootstrap(api_settings(tmp_path)) as tiffin:  # no workers run: the views stay behind
        place(tiffin, scenario_kitchen(tiffin), cause(Role.CUSTOMER))
        head = tiffin.ordering.recorder.max_notification_id() or 0
        reads = ViewReads(lambda name: projector(tiffin, tiffin.views(), name), READ_WAIT_SECONDS)
        started = time.monotonic()
        with pytest.raises(ApiProblem) as refused:
            asyncio.run(reads.wait("order_summary", tiffin.ordering, head))

    assert time.monotonic() - started >= READ_WAIT_SECONDS
    assert refused.value.status == 503
    assert f"has not reached position {head}" in refused.value.detail


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it once the probe is closed


def test_redis_down_is_a_503_with_retry_after_not_a_500(tmp_path: Path, postgres_url: str) -> None:
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    settings = api_settings(tmp_path, DATABASE_URL=postgres_url, REDIS_URL=redis_url)
    with api_server(settings) as server, server.client() as client:
        for path in ("/v1/restaurants", f"/v1/orders/{uuid4()}/status"):
            response = client.get(path, headers=server.auth(Role.ADMIN))
            assert_problem(response, 503)
            assert int(response.headers["retry-after"]) >= 1
        ready = client.get("/readyz")
        assert "redis" in str(assert_problem(ready, 503)["detail"])
        assert client.get("/healthz").status_code == 200
