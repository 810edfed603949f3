"""The catalogue: restaurants, their online flag and their menus, for browsing and ordering.

Built from the Restaurants log alone (columns in docs/analyst-tables.md). Each event upserts
only the columns it is about (so no column but the key is NOT NULL: the insert half of an
upsert is checked before the conflict turns it into an update). ``Catalogue`` reads it:
restaurants by cuisine, online flag and distance, one restaurant with its menu, and the problems
an order would meet (the same rules as ``Restaurant.price_order``; the aggregate stays the
authority, this only lets the API answer early and name every problem at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.restaurant import MAX_LINES, MAX_QUANTITY, MIN_QUANTITY
from domain.values import Location, Money
from projections.projector import Apply, Projection
from projections.sql_helpers import upsert
from projections.views import Run, SqlDatabase

RESTAURANTS = "catalogue_restaurants"
ITEMS = "catalogue_menu_items"
TABLES = (
    f"CREATE TABLE IF NOT EXISTS {RESTAURANTS} (restaurant_id TEXT PRIMARY KEY,"
    " owner_id TEXT, name TEXT, cuisine TEXT, address TEXT, lat DOUBLE PRECISION,"
    " lng DOUBLE PRECISION, opening_hours TEXT, online BOOLEAN,"
    " registered_at TIMESTAMP WITH TIME ZONE, updated_at TIMESTAMP WITH TIME ZONE)",
    f"CREATE TABLE IF NOT EXISTS {ITEMS} (restaurant_id TEXT NOT NULL, item_id TEXT NOT NULL,"
    " name TEXT NOT NULL, description TEXT NOT NULL, category TEXT NOT NULL,"
    " price_minor BIGINT NOT NULL, currency TEXT NOT NULL, available BOOLEAN NOT NULL,"
    " PRIMARY KEY (restaurant_id, item_id))",
)


def _restaurant(run: Run, event: Any, **columns: Any) -> None:
    """Sets columns of the event's restaurant, and when it last changed."""
    key = {"restaurant_id": str(event.originator_id)}
    upsert(run, RESTAURANTS, key, updated_at=event.timestamp, **columns)


def _registered(run: Run, event: Any) -> None:
    _restaurant(
        run,
        event,
        owner_id=event.owner_id,
        name=event.name,
        cuisine=event.cuisine,
        address=event.address,
        lat=event.location.lat,
        lng=event.location.lng,
        opening_hours=event.opening_hours,
        online=False,
        registered_at=event.timestamp,
    )


def _online(online: bool) -> Apply:
    return lambda run, event: _restaurant(run, event, online=online)


def _item_set(run: Run, event: Any) -> None:
    """An item added, or changed (all its fields are in the event)."""
    item = event.item
    upsert(
        run,
        ITEMS,
        {"restaurant_id": str(event.originator_id), "item_id": str(item.id)},
        name=item.name,
        description=item.description,
        category=item.category,
        price_minor=item.price.minor,
        currency=item.price.currency,
        available=item.available,
    )
    _restaurant(run, event)


def _item_removed(run: Run, event: Any) -> None:
    run(
        f"DELETE FROM {ITEMS} WHERE restaurant_id = ? AND item_id = ?",  # noqa: S608
        (str(event.originator_id), str(event.item_id)),
    )
    _restaurant(run, event)


CATALOGUE = Projection(
    name="catalogue",
    tables=TABLES,
    appliers={
        "Restaurant.Registered": _registered,
        "Restaurant.WentOnline": _online(True),
        "Restaurant.WentOffline": _online(False),
        "Restaurant.MenuItemAdded": _item_set,
        "Restaurant.MenuItemChanged": _item_set,
        "Restaurant.MenuItemRemoved": _item_removed,
    },
)


# Reading it


@dataclass(frozen=True)
class CatalogueItem:
    id: UUID
    name: str
    description: str
    category: str
    price: Money
    available: bool


@dataclass(frozen=True)
class CatalogueRestaurant:
    id: UUID
    owner_id: str
    name: str
    cuisine: str
    address: str
    location: Location
    opening_hours: str
    online: bool
    menu: tuple[CatalogueItem, ...]


@dataclass(frozen=True)
class Problem:
    """Why an order could not be placed: where in the request (``("items", 0, "quantity")``)
    and what is wrong."""

    loc: tuple[str | int, ...]
    msg: str


PROFILE = "restaurant_id, owner_id, name, cuisine, address, lat, lng, opening_hours, online"
MENU = "restaurant_id, item_id, name, description, category, price_minor, currency, available"


class Catalogue:
    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    def restaurants(
        self,
        online: bool | None = None,
        cuisine: str | None = None,
        near: Location | None = None,
        radius_km: float | None = None,
    ) -> list[CatalogueRestaurant]:
        """Restaurants with their menus, by name; ``cuisine`` ignores case; ``near`` with
        ``radius_km`` keeps those within that great-circle distance, nearest first."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if online is not None:
            where.append("online = ?")
            params.append(online)
        if cuisine is not None:
            where.append("lower(cuisine) = lower(?)")
            params.append(cuisine)
        found = self._read(" AND ".join(where), params)
        if near is None:
            return found
        distance = {r.id: near.distance_km(r.location) for r in found}
        kept = [r for r in found if radius_km is None or distance[r.id] <= radius_km]
        return sorted(kept, key=lambda r: distance[r.id])

    def restaurant(self, restaurant_id: UUID) -> CatalogueRestaurant | None:
        found = self._read("restaurant_id = ?", [str(restaurant_id)])
        return found[0] if found else None

    def order_problems(
        self, restaurant_id: UUID, requests: Sequence[tuple[UUID, int]]
    ) -> list[Problem]:
        """What would stop an order of these (menu item, quantity) lines being placed now;
        empty if nothing would."""
        restaurant = self.restaurant(restaurant_id)
        if restaurant is None:
            return [Problem(("restaurant_id",), f"no restaurant {restaurant_id}")]
        problems = []
        if not restaurant.online:
            problems.append(Problem(("restaurant_id",), "the restaurant is not taking orders"))
        if not requests:
            problems.append(Problem(("items",), "an order needs at least one item"))
        if len(requests) > MAX_LINES:
            problems.append(Problem(("items",), f"an order has at most {MAX_LINES} lines"))
        menu = {item.id: item for item in restaurant.menu}
        for index, (item_id, quantity) in enumerate(requests):
            if type(quantity) is not int or not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
                problems.append(
                    Problem(
                        ("items", index, "quantity"),
                        f"quantity must be between {MIN_QUANTITY} and {MAX_QUANTITY}",
                    )
                )
            item = menu.get(item_id)
            if item is None:
                problems.append(Problem(("items", index, "menu_item_id"), "not on the menu"))
            elif not item.available:
                problems.append(
                    Problem(("items", index, "menu_item_id"), f"{item.name!r} is not available")
                )
        return problems

    def _read(self, where: str, params: Sequence[Any]) -> list[CatalogueRestaurant]:
        with self.database.transaction() as run:
            profiles = run(
                f"SELECT {PROFILE} FROM {RESTAURANTS} WHERE {where}"  # noqa: S608 (ours)
                " ORDER BY name, restaurant_id",
                params,
            ).fetchall()
            items = run(
                f"SELECT {MENU} FROM {ITEMS} WHERE restaurant_id IN"  # noqa: S608 (ours)
                f" (SELECT restaurant_id FROM {RESTAURANTS} WHERE {where})"
                " ORDER BY category, name, item_id",
                params,
            ).fetchall()
        menus: dict[str, list[CatalogueItem]] = {}
        for restaurant_id, item_id, name, description, category, minor, currency, ok in items:
            menus.setdefault(restaurant_id, []).append(
                CatalogueItem(
                    UUID(item_id), name, description, category, Money(minor, currency), bool(ok)
                )
            )
        return [_profile(row, tuple(menus.get(row[0], ()))) for row in profiles]


def _profile(row: Sequence[Any], menu: tuple[CatalogueItem, ...]) -> CatalogueRestaurant:
    restaurant_id, owner_id, name, cuisine, address, lat, lng, opening_hours, online = row
    return CatalogueRestaurant(
        id=UUID(restaurant_id),
        owner_id=owner_id,
        name=name,
        cuisine=cuisine,
        address=address,
        location=Location(lat, lng),
        opening_hours=opening_hours,
        online=bool(online),
        menu=menu,
    )
