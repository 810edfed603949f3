"""A restaurant's menu over HTTP: read by anyone, replaced by its owner in one change, each
item's problems named by index, and an item left out no longer orderable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.values import Role
from tests.api_builders import Api, Kitchen, open_kitchen, order_body
from tests.api_server import serving


@pytest.fixture(scope="module", params=["embedded", "server"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database_url = request.getfixturevalue("database_url") if request.param == "server" else None
    data_dir: Path = tmp_path_factory.mktemp(request.param)
    with serving(request.param, data_dir, database_url) as server, server.client() as client:
        yield Api(server, client)


def menu_path(kitchen: Kitchen) -> str:
    return f"/v1/restaurants/{kitchen.id}/menu"


def read_menu(api: Api, kitchen: Kitchen, position: int | None = None) -> list[dict[str, Any]]:
    query = {} if position is None else {"min_position": position}
    customer = api.user(Role.CUSTOMER)
    return api.expect(200, customer, "GET", menu_path(kitchen), params=query)["items"]


def test_the_owner_replaces_the_menu_in_one_change_and_everyone_reads_it(api: Api) -> None:
    kitchen = open_kitchen(api, items=2)
    kept, dropped = kitchen.items
    body = {
        "items": [
            {
                "id": kept,
                "name": "Masala dosa",
                "price": "140.00",
                "category": "dosa",
                "prep_minutes": 20,
                "dietary": ["veg", "jain", "veg"],
                "sort_order": 2,
                "image_url": "https://img.example/masala-dosa.jpg",
            },
            {"name": "Rava dosa", "price": "130.00", "category": "dosa", "sort_order": 1},
            {"name": "Filter coffee", "price": "40.00", "category": "drinks"},
        ]
    }

    replaced = api.expect(200, kitchen.owner, "PUT", menu_path(kitchen), json=body)

    names = [item["name"] for item in replaced["items"]]
    assert names == ["Rava dosa", "Masala dosa", "Filter coffee"]  # category, then sort order
    masala = replaced["items"][1]
    assert masala["id"] == kept
    assert (masala["price"], masala["prep_minutes"]) == (
        {"amount": "140.00", "currency": "INR"},
        20,
    )
    assert (masala["dietary"], masala["sort_order"]) == (["jain", "veg"], 2)
    assert masala["image_url"] == "https://img.example/masala-dosa.jpg"
    assert replaced["items"][2]["prep_minutes"] == 15  # the default
    read = read_menu(api, kitchen, replaced["position"])
    assert read == replaced["items"]
    assert dropped not in {item["id"] for item in read}

    customer = api.user(Role.CUSTOMER)
    gone = order_body(kitchen)
    gone["items"] = [{"menu_item_id": dropped, "quantity": 1, "notes": ""}]
    refused = api.expect(422, customer, "POST", "/v1/orders", json=gone)
    assert refused["errors"][0]["loc"] == ["body", "items", 0, "menu_item_id"]


def test_items_that_cannot_be_are_named_by_index_and_nothing_changes(api: Api) -> None:
    kitchen = open_kitchen(api, items=2)
    before = read_menu(api, kitchen, kitchen.position)
    first, _ = kitchen.items
    body = {
        "items": [
            {"name": "Idli", "price": "60.00"},
            {"id": "00000000-0000-4000-8000-000000000007", "name": "Vada", "price": "50.00"},
            {"id": first, "name": "Upma", "price": "70.00"},
            {"id": first, "name": "Upma again", "price": "70.00"},
            {"name": "Pongal", "price": "80.00", "image_url": "https:///no-host.jpg"},
        ]
    }

    refused = api.expect(422, kitchen.owner, "PUT", menu_path(kitchen), json=body)

    assert [error["loc"] for error in refused["errors"]] == [
        ["body", "items", 1],
        ["body", "items", 3],
        ["body", "items", 4],
    ]
    assert "no menu item" in refused["errors"][0]["msg"]
    assert "listed twice" in refused["errors"][1]["msg"]
    assert read_menu(api, kitchen) == before


def test_a_body_of_the_wrong_shape_is_a_422_naming_the_field(api: Api) -> None:
    kitchen = open_kitchen(api, items=1)
    body = {"items": [{"name": "Idli", "price": "60.00", "dietary": ["carnivore"]}]}

    refused = api.expect(422, kitchen.owner, "PUT", menu_path(kitchen), json=body)

    assert refused["errors"][0]["loc"][:5] == ["body", "items", 0, "dietary", 0]
    assert read_menu(api, kitchen, kitchen.position)[0]["id"] == kitchen.items[0]


def test_the_menu_of_no_restaurant_is_a_404(api: Api) -> None:
    customer = api.user(Role.CUSTOMER)
    api.expect(404, customer, "GET", "/v1/restaurants/00000000-0000-4000-8000-000000000001/menu")
