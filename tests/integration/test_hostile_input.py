"""Hostile input (issue 14): whatever a client sends, /metrics stays bounded, a malformed
signature is a 401, a malformed signed body a 4xx, and no client error logs a traceback."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import sqlite3
import string
import time
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest

from application.webhooks import signature_header
from domain.values import Role
from tests.api_builders import Api, open_kitchen, order_body, paid_order, place
from tests.api_server import WEBHOOK_SECRET, ApiServer, api_server, api_settings
from tests.raw_http import closed_within, read_response_head


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with api_server(api_settings(tmp_path_factory.mktemp("hostile"))) as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Iterator[Api]:
    with server.client() as client:
        yield Api(server, client)


def series(client: httpx.Client) -> int:
    return sum(
        1 for line in client.get("/metrics").text.splitlines() if line.startswith("tiffin_http")
    )


def test_made_up_methods_and_paths_add_no_metric_series(api: Api) -> None:
    rng = random.Random(14)
    for method, path in (("GET", "/healthz"), ("XWARM", "/healthz"), ("XWARM", "/nothing")):
        api.client.request(method, path)  # the series any such request adds: one of each
    series(api.client)  # and those of /metrics itself
    before = series(api.client)

    for _ in range(1000):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 10)))
        path = "/" + "".join(rng.choices(string.ascii_lowercase + "/", k=rng.randint(1, 30)))
        api.client.request(method, rng.choice([path, "/healthz"]))

    grown = series(api.client) - before
    print(f"\n/metrics: {grown} new series after 1,000 requests with random methods and paths")
    assert grown == 0
    text = api.client.get("/metrics").text
    assert 'method="other"' in text
    assert 'route="unmatched"' in text


MALFORMED_SIGNATURES = [
    "t=\xb2,v1=00",  # "²" passes str.isdigit(), int() refuses it
    "t=" + "9" * 5000 + ",v1=00",
    "t=,v1=",
    "v1=abc",
    "t=1,t=2,v1=00",
    f"t={int(time.time())},v1=\xe9\xe9",  # not ASCII: hmac.compare_digest would raise
    f"t={int(time.time())},v1=" + "g" * 64,
    "garbage",
    "",
]


@pytest.mark.parametrize("header", MALFORMED_SIGNATURES)
def test_every_malformed_signature_is_a_401_without_a_traceback(
    api: Api, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"id": "evt", "type": "payment.captured"}).encode()
    with caplog.at_level(logging.INFO):
        response = api.client.post(
            "/v1/payments/webhook",
            content=body,
            headers={"Tiffin-Signature": header.encode("latin-1")},
        )

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [r for r in caplog.records if r.exc_info] == []


def signed(body: bytes) -> dict[str, str]:
    signature = signature_header(WEBHOOK_SECRET.encode(), body, int(time.time()))
    return {"Tiffin-Signature": signature, "Content-Type": "application/json"}


def captured(amount: object) -> bytes:
    event = {
        "id": f"evt_{uuid4().hex}",
        "type": "payment.captured",
        "payment_id": str(uuid4()),
        "gateway_ref": "UTR1",
        "amount": {"amount": amount, "currency": "INR"},
    }
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 30_000 + b"]" * 30_000, 422),  # nested past the parser's recursion limit
        (captured("1e9999999"), 422),  # decimal.Overflow
        (captured("\u0661\u0662\u0663"), 422),  # Arabic-Indic digits
        (captured(float("nan")), 422),
        (b"\xff\xfe not json", 400),
        (b"{not json", 400),
    ],
    ids=["deep", "overflow", "unicode-digits", "nan", "not-utf8", "not-json"],
)
def test_a_signed_but_malformed_body_is_a_4xx_without_a_traceback(
    api: Api, body: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = api.client.post("/v1/payments/webhook", content=body, headers=signed(body))

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [r for r in caplog.records if r.exc_info] == []


def test_an_amount_in_other_digits_is_refused_and_nothing_is_stored(api: Api) -> None:
    owner = api.user(Role.RESTAURANT)
    kitchen = open_kitchen(api, owner)
    path = f"/v1/restaurants/{kitchen.id}/menu/items"
    caught_up = {"min_position": kitchen.position}  # the catalogue has the kitchen's items
    page = f"/v1/restaurants/{kitchen.id}"
    before = api.expect(200, owner, "GET", page, params=caught_up)["menu"]

    for price in ("\u0661\u0662\u0663", "1e9999999", " 12.00", "12,00"):
        response = api.call(owner, "POST", path, json={"name": "Vada", "price": price})
        assert response.status_code == 422, (price, response.text)
        assert "price" in response.text

    assert len(before) == 2
    assert api.expect(200, owner, "GET", page, params=caught_up)["menu"] == before
    order = place(api, api.user(Role.CUSTOMER), kitchen)  # the restaurant still works
    assert order["status"] == "awaiting_payment"
    assert order_body(kitchen)["items"]


@pytest.mark.parametrize("quantity", ["2", True, 2.5, None])
def test_a_quantity_must_be_a_json_integer(api: Api, quantity: object) -> None:
    kitchen = open_kitchen(api)
    customer = api.user(Role.CUSTOMER)
    body = order_body(kitchen)
    body["items"][0]["quantity"] = quantity

    response = api.call(customer, "POST", "/v1/orders", json=body)

    assert response.status_code == 422, response.text
    assert "quantity" in response.text
    assert api.expect(200, customer, "GET", "/v1/orders")["items"] == []


def test_an_integer_written_with_a_zero_fraction_is_that_integer(api: Api) -> None:
    """JSON Schema, and so the OpenAPI document every client reads, counts 2.0 as the
    integer 2: it is taken as 2, never rounded from anything else."""
    kitchen = open_kitchen(api)
    body = order_body(kitchen)
    body["items"][0]["quantity"] = 2.0

    order = api.expect(201, api.user(Role.CUSTOMER), "POST", "/v1/orders", json=body)

    assert order["items"][0]["quantity"] == 2


@pytest.mark.parametrize(
    "price",
    [{"amount": "120.00", "currency": "XXX"}, {"amount": "120.00", "currency": "USD"}, 120, True],
)
def test_a_price_is_a_decimal_string_in_rupees(api: Api, price: object) -> None:
    owner = api.user(Role.RESTAURANT)
    kitchen = open_kitchen(api, owner)

    response = api.call(
        owner,
        "POST",
        f"/v1/restaurants/{kitchen.id}/menu/items",
        json={"name": "Vada", "price": price},
    )

    assert response.status_code == 422, response.text
    assert "price" in response.text


def test_a_request_framed_both_ways_is_a_400_and_its_connection_is_closed(
    server: ApiServer,
) -> None:
    body = b'{"id": "x"}'
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (
        b"POST /v1/payments/webhook HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(chunked) + len(smuggled)}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked
        + smuggled
    )
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        server.ssl_context().wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.settimeout(5)
        tls.sendall(request)
        head = read_response_head(tls)
        closed = closed_within(tls, 2.0)

    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"connection: close" in head.lower().split(b"\r\n")
    assert closed, "the smuggled request behind it is never read"


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/payments/webhook", "POST"),  # not a payment id: GET /v1/payments/{uuid} differs
        ("/v1/orders", "GET, HEAD, POST"),
        (f"/v1/restaurants/{uuid4()}/menu/items/{uuid4()}", "DELETE, PATCH"),
    ],
)
def test_a_405_names_every_method_of_the_path(api: Api, path: str, methods: str) -> None:
    admin = api.user(Role.ADMIN)
    for wrong in ("PUT", "OPTIONS"):
        response = api.call(admin, wrong, path)
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == methods


@pytest.mark.parametrize("token", [None, "Bearer not-a-token"])
@pytest.mark.parametrize("body", [b"{not json", b'{"restaurant_id": 5}'])
def test_who_calls_is_checked_before_what_they_sent(
    api: Api, token: str | None, body: bytes
) -> None:
    headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}

    response = api.client.post("/v1/orders", content=body, headers=headers)

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_prices_and_order_totals_have_upper_bounds(api: Api) -> None:
    owner = api.user(Role.RESTAURANT)
    kitchen = open_kitchen(api, owner)
    items = f"/v1/restaurants/{kitchen.id}/menu/items"
    customer = api.user(Role.CUSTOMER)

    too_dear = api.call(owner, "POST", items, json={"name": "Gold dosa", "price": "100000.01"})
    dearest = api.expect(201, owner, "POST", items, json={"name": "Feast", "price": "100000.00"})
    body = order_body(kitchen, quantity=6, item=dearest["id"])
    too_large = api.call(customer, "POST", "/v1/orders", json=body)

    assert too_dear.status_code == 422, too_dear.text
    assert "price" in too_dear.json()["detail"]
    assert too_large.status_code == 422, too_large.text
    assert "total" in too_large.json()["detail"]
    assert api.expect(200, customer, "GET", "/v1/orders")["items"] == []


def test_the_docs_page_loads_nothing_from_elsewhere_and_carries_a_csp(api: Api) -> None:
    page = api.client.get("/docs")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "<script>" not in page.text, "no inline script: the policy would refuse it"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    assert all(asset.startswith("/") and not asset.startswith("//") for asset in assets)
    for asset in assets:
        served = api.client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset
    assert api.client.get("/redoc").status_code == 404


def test_a_stored_answer_is_sealed_at_rest_and_replayed_as_it_was(api: Api) -> None:
    owner = api.user(Role.RESTAURANT)
    kitchen = open_kitchen(api, owner)
    order = paid_order(api, api.user(Role.CUSTOMER), kitchen)
    key = {"Idempotency-Key": uuid4().hex}
    accept = f"/v1/orders/{order['id']}/accept"

    first = api.expect(200, owner, "POST", accept, json={"prep_minutes": 15}, headers=key)
    again = api.expect(200, owner, "POST", accept, json={"prep_minutes": 15}, headers=key)
    database = api.server.settings.data_dir / "views.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (stored,) = connection.execute(
            "SELECT body FROM tiffin_api_idempotency WHERE idempotency_key = ?",
            (key["Idempotency-Key"],),
        ).fetchone()

    assert again == first
    assert stored.startswith("sealed:")
    assert "Residency" not in stored
    assert "asha@okbank" not in stored
