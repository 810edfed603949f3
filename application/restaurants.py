"""Restaurants context: registering restaurants, opening and closing them, their menus."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.system import Leader

from application.base import TiffinApplication
from application.results import Changed
from domain.errors import InvalidMoney
from domain.restaurant import MenuItem, Restaurant
from domain.values import Cause, Location, Money

CACHED_RESTAURANTS = 10_000  # past this many, the cache starts again empty


class Restaurants(TiffinApplication, Leader[UUID]):
    """Restaurants and their menus. Leads the workers of the views built from them (the
    catalogue), so they run as soon as something is saved in the same process."""

    def __init__(
        self, env: dict[str, str] | None = None, *, max_price: Money | None = None
    ) -> None:
        super().__init__(env)
        self.max_price = max_price  # TIFFIN_MAX_ITEM_PRICE: no menu item costs more
        self._current: dict[UUID, Restaurant] = {}  # read by get_restaurant, never changed

    def _check_price(self, price: Money | None) -> None:
        if price is not None and self.max_price is not None and price > self.max_price:
            raise InvalidMoney(f"price: at most {self.max_price} per item, got {price}")

    def register_restaurant(
        self,
        *,
        owner_id: str,
        name: str,
        cuisine: str,
        address: str,
        location: Location,
        cause: Cause,
        opening_hours: str = "",
    ) -> Changed[Restaurant]:
        restaurant = Restaurant.register(
            owner_id=owner_id,
            name=name,
            cuisine=cuisine,
            address=address,
            location=location,
            opening_hours=opening_hours,
            cause=cause,
        )
        return Changed(restaurant, self.commit(restaurant))

    def get_restaurant(self, restaurant_id: UUID) -> Restaurant:
        """The restaurant as it is now, to read and never to change: every order prices its
        lines from it, so it is cached, and each read only asks the store for events newer
        than the cached version (none, nearly always: one small query, nothing to decode).
        A newer version replaces the cached one rather than changing it, so a reader still
        holding the old one sees a consistent restaurant."""
        cached = self._current.get(restaurant_id)
        if cached is not None and not self._has_newer(cached):
            return cached
        restaurant = self.load(Restaurant, restaurant_id)
        if len(self._current) >= CACHED_RESTAURANTS:
            self._current.clear()
        self._current[restaurant_id] = restaurant
        return restaurant

    def _has_newer(self, restaurant: Restaurant) -> bool:
        return any(True for _ in self.events.get(restaurant.id, gt=restaurant.version, limit=1))

    def set_online(self, restaurant_id: UUID, online: bool, cause: Cause) -> Changed[Restaurant]:
        """Brings a restaurant online or takes it offline; its current state again is a no-op."""
        restaurant = self.load(Restaurant, restaurant_id)
        if restaurant.online == online:
            return Changed(restaurant, None)
        if online:
            restaurant.go_online(cause)
        else:
            restaurant.go_offline(cause)
        return Changed(restaurant, self.commit(restaurant))

    def add_menu_item(
        self,
        restaurant_id: UUID,
        *,
        name: str,
        price: Money,
        cause: Cause,
        description: str = "",
        category: str = "",
        available: bool = True,
    ) -> Changed[MenuItem]:
        self._check_price(price)
        restaurant = self.load(Restaurant, restaurant_id)
        item = restaurant.add_menu_item(
            name=name,
            price=price,
            description=description,
            category=category,
            available=available,
            cause=cause,
        )
        return Changed(item, self.commit(restaurant))

    def change_menu_item(
        self,
        restaurant_id: UUID,
        item_id: UUID,
        *,
        cause: Cause,
        name: str | None = None,
        description: str | None = None,
        price: Money | None = None,
        category: str | None = None,
        available: bool | None = None,
    ) -> Changed[MenuItem]:
        self._check_price(price)
        restaurant = self.load(Restaurant, restaurant_id)
        item = restaurant.change_menu_item(
            item_id,
            name=name,
            description=description,
            price=price,
            category=category,
            available=available,
            cause=cause,
        )
        return Changed(item, self.commit(restaurant))

    def remove_menu_item(
        self, restaurant_id: UUID, item_id: UUID, cause: Cause
    ) -> Changed[Restaurant]:
        return self.change(Restaurant, restaurant_id, lambda r: r.remove_menu_item(item_id, cause))
