"""``/v1/restaurants``: registering restaurants, opening them, their menus and order queues."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.access import RestaurantOwners
from api.auth import Caller, allow
from api.causation import cause_of, retrying_conflicts
from api.dependencies import (
    CatalogueView,
    Config,
    HotViews,
    Once,
    OrderingApp,
    Owners,
    PersonalData,
    RestaurantsApp,
    Views,
)
from api.problems import ApiProblem
from api.schemas.common import OrderingPosition, Page, RestaurantsPosition
from api.schemas.restaurants import (
    MenuItemChange,
    MenuItemCreate,
    MenuItemPublic,
    RestaurantCreate,
    RestaurantPublic,
    RestaurantStatus,
    item_out,
    restaurant_out,
)
from application.identity import Identity
from domain.errors import UnknownMenuItem
from domain.values import Location, Role
from projections.catalogue import CatalogueRestaurant
from projections.personal import lookups
from projections.restaurant_queue import open_orders

router = APIRouter(prefix="/v1/restaurants", tags=["restaurants"])
LATITUDE = r"-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?)"
LONGITUDE = r"-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?)"
NEAR_PATTERN = f"^{LATITUDE},{LONGITUDE}$"  # lat,lng in degrees
Owner = Annotated[Identity, allow(Role.RESTAURANT)]


def _require_owner(owners: RestaurantOwners, caller: Identity, restaurant_id: UUID) -> None:
    """Only the restaurant's owner (or an admin) may change it; to others it is not found."""
    owner = owners(restaurant_id)  # 404 if there is none
    if caller.role is not Role.ADMIN and owner != caller.subject:
        raise ApiProblem(404, f"no restaurant with id {restaurant_id}")  # as if there were none


@router.post("", status_code=201, response_model=RestaurantPublic)
def register_restaurant(
    body: RestaurantCreate,
    caller: Owner,
    request: Request,
    restaurants: RestaurantsApp,
    once: Once,
) -> Any:
    def create() -> tuple[int, dict[str, Any]]:
        changed = restaurants.register_restaurant(
            owner_id=caller.subject,
            name=body.name,
            cuisine=body.cuisine,
            address=body.address,
            location=body.location.value(),
            opening_hours=body.opening_hours,
            cause=cause_of(caller, request),
        )
        restaurant = changed.value
        return 201, {
            **restaurant_out(restaurant, restaurant.menu.values()),
            "position": changed.position,
        }

    return once(caller.subject, body.model_dump(mode="json"), create)


@router.get("", response_model=Page[RestaurantPublic])
async def list_restaurants(
    caller: Caller,
    restaurants: RestaurantsApp,
    catalogue: CatalogueView,
    views: Views,
    personal: PersonalData,
    cuisine: Annotated[str | None, Query(max_length=80)] = None,
    online: bool | None = None,
    near: Annotated[str | None, Query(pattern=NEAR_PATTERN, examples=["12.97,77.59"])] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=20_000)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,9}$")] = None,
    min_position: RestaurantsPosition = None,
) -> Any:
    await views.wait("catalogue", restaurants, min_position)
    point = _point(near)
    found = await run_in_threadpool(catalogue.restaurants, online, cuisine, point, radius_km)
    start = int(cursor or 0)
    page = found[start : start + limit]
    more = start + limit < len(found)
    return {
        "items": [_listed(r, caller, lookups(personal, caller.subject)) for r in page],
        "next_cursor": str(start + limit) if more else None,
    }


def _listed(restaurant: CatalogueRestaurant, caller: Identity, callers_ids: list[str]) -> Any:
    """A catalogue row as a caller sees it: the catalogue keeps its owner's pseudonym, and
    the owner (whose ``lookups`` are ``callers_ids``) sees their own id."""
    listed = restaurant_out(restaurant, restaurant.menu)
    if restaurant.owner_id in callers_ids:
        listed["owner_id"] = caller.subject
    return listed


def _point(near: str | None) -> Location | None:
    if near is None:
        return None
    lat, lng = (float(part) for part in near.split(","))
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ApiProblem(422, "near must be lat,lng within -90..90 and -180..180")
    return Location(lat, lng)


@router.get("/{restaurant_id}", response_model=RestaurantPublic)
async def get_restaurant(
    restaurant_id: UUID,
    caller: Caller,
    restaurants: RestaurantsApp,
    catalogue: CatalogueView,
    views: Views,
    personal: PersonalData,
    min_position: RestaurantsPosition = None,
) -> Any:
    await views.wait("catalogue", restaurants, min_position)
    found = await run_in_threadpool(catalogue.restaurant, restaurant_id)
    if found is None:
        raise ApiProblem(404, f"no restaurant with id {restaurant_id}")
    return _listed(found, caller, lookups(personal, caller.subject))


@router.put("/{restaurant_id}/status", response_model=RestaurantPublic)
def set_status(
    restaurant_id: UUID,
    body: RestaurantStatus,
    caller: Owner,
    request: Request,
    restaurants: RestaurantsApp,
    owners: Owners,
    once: Once,
) -> Any:
    def change() -> tuple[int, dict[str, Any]]:
        _require_owner(owners, caller, restaurant_id)
        cause = cause_of(caller, request)
        online = body.online
        changed = retrying_conflicts(lambda: restaurants.set_online(restaurant_id, online, cause))
        restaurant = changed.value
        document = restaurant_out(restaurant, restaurant.menu.values())
        return 200, {**document, "position": changed.position}

    return once(caller.subject, body.model_dump(mode="json"), change)


@router.post("/{restaurant_id}/menu/items", status_code=201, response_model=MenuItemPublic)
def add_menu_item(
    restaurant_id: UUID,
    body: MenuItemCreate,
    caller: Owner,
    request: Request,
    restaurants: RestaurantsApp,
    owners: Owners,
    once: Once,
) -> Any:
    _require_owner(owners, caller, restaurant_id)

    def create() -> tuple[int, dict[str, Any]]:
        changed = restaurants.add_menu_item(
            restaurant_id,
            name=body.name,
            price=body.price.value(),
            description=body.description,
            category=body.category,
            available=body.available,
            cause=cause_of(caller, request),
        )
        return 201, {**item_out(changed.value), "position": changed.position}

    route = f"POST /v1/restaurants/{restaurant_id}/menu/items"  # the id as stored keys spell it
    return once(caller.subject, body.model_dump(mode="json"), create, route=route)


@router.patch("/{restaurant_id}/menu/items/{item_id}", response_model=MenuItemPublic)
def change_menu_item(
    restaurant_id: UUID,
    item_id: UUID,
    body: MenuItemChange,
    caller: Owner,
    request: Request,
    restaurants: RestaurantsApp,
    owners: Owners,
    once: Once,
) -> Any:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "price" in changes:
        changes["price"] = body.price.value() if body.price else None

    def change() -> tuple[int, dict[str, Any]]:
        _require_owner(owners, caller, restaurant_id)
        cause = cause_of(caller, request)
        with _menu_item(item_id):
            changed = retrying_conflicts(
                lambda: restaurants.change_menu_item(restaurant_id, item_id, cause=cause, **changes)
            )
        return 200, {**item_out(changed.value), "position": changed.position}

    return once(caller.subject, body.model_dump(mode="json", exclude_unset=True), change)


@contextmanager
def _menu_item(item_id: UUID) -> Iterator[None]:
    """An item not on the menu is not found (404), rather than a bad request."""
    try:
        yield
    except UnknownMenuItem:
        raise ApiProblem(404, f"no menu item with id {item_id}") from None


@router.delete("/{restaurant_id}/menu/items/{item_id}", status_code=204)
def remove_menu_item(
    restaurant_id: UUID,
    item_id: UUID,
    caller: Owner,
    request: Request,
    restaurants: RestaurantsApp,
    owners: Owners,
) -> Response:
    _require_owner(owners, caller, restaurant_id)
    cause = cause_of(caller, request)
    with _menu_item(item_id):
        retrying_conflicts(lambda: restaurants.remove_menu_item(restaurant_id, item_id, cause))
    return Response(status_code=204)


@router.get("/{restaurant_id}/orders")
async def restaurant_orders(
    restaurant_id: UUID,
    caller: Owner,
    owners: Owners,
    ordering: OrderingApp,
    views: Views,
    hot_views: HotViews,
    settings: Config,
    status: Annotated[str | None, Query(max_length=40)] = None,
    min_position: OrderingPosition = None,
) -> Any:
    """The restaurant's open orders, oldest paid first (the restaurant queue hot view)."""
    await run_in_threadpool(_require_owner, owners, caller, restaurant_id)
    await views.wait("restaurant_queue", ordering, min_position)
    prefix = settings.redis_prefix
    queue = await run_in_threadpool(open_orders, hot_views, prefix, restaurant_id)
    items = [
        {"order_id": order_id, "status": state, "since": since}
        for order_id, state, since in queue
        if status is None or state == status
    ]
    return {"items": items, "next_cursor": None}
