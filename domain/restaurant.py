"""Restaurant aggregate: profile, online flag and menu."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    EmptyOrder,
    IllegalTransition,
    InvalidPrice,
    InvalidQuantity,
    MenuItemUnavailable,
    RestaurantOffline,
    UnknownMenuItem,
)
from domain.values import Cause, Location, Money, require_text

MIN_QUANTITY, MAX_QUANTITY = 1, 50
MAX_LINES = 100


class RestaurantStatus(StrEnum):
    REGISTERED = "registered"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class MenuItem:
    id: UUID
    name: str
    description: str
    price: Money
    category: str
    available: bool


@dataclass(frozen=True)
class LineRequest:
    """What a customer asks for: an item of the menu, how many, and a note for the kitchen."""

    menu_item_id: UUID
    quantity: int
    notes: str = ""


@dataclass(frozen=True)
class OrderLine:
    """A line of an order, priced from the menu at the time the order was placed."""

    menu_item_id: UUID
    name: str
    unit_price: Money
    quantity: int
    notes: str

    @property
    def line_total(self) -> Money:
        return self.unit_price.times(self.quantity)


def _checked_price(price: Money) -> Money:
    if not price.is_positive():
        raise InvalidPrice(f"a price must be more than zero, got {price}")
    return price


class Restaurant(Aggregate):
    @classmethod
    def register(
        cls,
        *,
        owner_id: str,
        name: str,
        cuisine: str,
        address: str,
        location: Location,
        opening_hours: str,
        cause: Cause,
    ) -> Restaurant:
        return cls(
            owner_id=require_text(owner_id, "owner id"),
            name=require_text(name, "name"),
            cuisine=require_text(cuisine, "cuisine", 80),
            address=require_text(address, "address", 500),
            location=location,
            opening_hours=opening_hours.strip(),
            cause=cause,
        )

    @event("Registered")
    def __init__(
        self,
        *,
        owner_id: str,
        name: str,
        cuisine: str,
        address: str,
        location: Location,
        opening_hours: str,
        cause: Cause,
    ) -> None:
        self.owner_id = owner_id
        self.name = name
        self.cuisine = cuisine
        self.address = address
        self.location = location
        self.opening_hours = opening_hours
        self.status = RestaurantStatus.REGISTERED
        self.menu: dict[UUID, MenuItem] = {}

    @property
    def online(self) -> bool:
        return self.status is RestaurantStatus.ONLINE

    def go_online(self, cause: Cause) -> None:
        if self.online:
            raise IllegalTransition("restaurant", "bring online", self.status)
        self._went_online(cause=cause)

    @event("WentOnline")
    def _went_online(self, cause: Cause) -> None:
        self.status = RestaurantStatus.ONLINE

    def go_offline(self, cause: Cause) -> None:
        if not self.online:
            raise IllegalTransition("restaurant", "take offline", self.status)
        self._went_offline(cause=cause)

    @event("WentOffline")
    def _went_offline(self, cause: Cause) -> None:
        self.status = RestaurantStatus.OFFLINE

    def add_menu_item(
        self,
        *,
        name: str,
        price: Money,
        cause: Cause,
        description: str = "",
        category: str = "",
        available: bool = True,
    ) -> MenuItem:
        item = MenuItem(
            id=uuid4(),
            name=require_text(name, "item name"),
            description=description.strip(),
            price=_checked_price(price),
            category=category.strip(),
            available=bool(available),
        )
        self._menu_item_added(item=item, cause=cause)
        return item

    @event("MenuItemAdded")
    def _menu_item_added(self, item: MenuItem, cause: Cause) -> None:
        self.menu[item.id] = item

    def change_menu_item(
        self,
        item_id: UUID,
        *,
        cause: Cause,
        name: str | None = None,
        description: str | None = None,
        price: Money | None = None,
        category: str | None = None,
        available: bool | None = None,
    ) -> MenuItem:
        current = self.menu_item(item_id)
        item = replace(
            current,
            name=current.name if name is None else require_text(name, "item name"),
            description=current.description if description is None else description.strip(),
            price=current.price if price is None else _checked_price(price),
            category=current.category if category is None else category.strip(),
            available=current.available if available is None else bool(available),
        )
        if item != current:
            self._menu_item_changed(item=item, cause=cause)
        return item

    @event("MenuItemChanged")
    def _menu_item_changed(self, item: MenuItem, cause: Cause) -> None:
        self.menu[item.id] = item

    def remove_menu_item(self, item_id: UUID, cause: Cause) -> None:
        self.menu_item(item_id)
        self._menu_item_removed(item_id=item_id, cause=cause)

    @event("MenuItemRemoved")
    def _menu_item_removed(self, item_id: UUID, cause: Cause) -> None:
        del self.menu[item_id]

    def menu_item(self, item_id: UUID) -> MenuItem:
        try:
            return self.menu[item_id]
        except KeyError:
            raise UnknownMenuItem(f"no menu item {item_id} at restaurant {self.id}") from None

    def price_order(self, requests: Sequence[LineRequest]) -> tuple[OrderLine, ...]:
        """Prices the requested lines from the live menu, refusing what cannot be ordered."""
        if not self.online:
            raise RestaurantOffline(f"restaurant {self.id} is not taking orders")
        if not requests:
            raise EmptyOrder("an order needs at least one item")
        if len(requests) > MAX_LINES:
            raise InvalidQuantity(f"an order has at most {MAX_LINES} lines")
        return tuple(self._priced_line(request) for request in requests)

    def _priced_line(self, request: LineRequest) -> OrderLine:
        quantity = request.quantity
        if type(quantity) is not int or not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
            raise InvalidQuantity(
                f"quantity must be between {MIN_QUANTITY} and {MAX_QUANTITY}, got {quantity!r}"
            )
        item = self.menu_item(request.menu_item_id)
        if not item.available:
            raise MenuItemUnavailable(f"{item.name!r} is not available right now")
        return OrderLine(item.id, item.name, item.price, quantity, request.notes.strip()[:500])
