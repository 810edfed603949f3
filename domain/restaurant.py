"""Restaurant aggregate: profile, online flag and menu."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    EmptyOrder,
    IllegalTransition,
    InvalidCommand,
    InvalidMenu,
    InvalidMenuItem,
    InvalidQuantity,
    MenuItemUnavailable,
    RestaurantOffline,
    UnknownMenuItem,
)
from domain.menu import MAX_MENU_ITEMS, MenuItem, MenuItemSpec, checked_item
from domain.values import Cause, Location, Money, require_text

__all__ = ["LineRequest", "MenuItem", "MenuItemSpec", "OrderLine", "Restaurant"]

MIN_QUANTITY, MAX_QUANTITY = 1, 50
MAX_LINES = 100


class RestaurantStatus(StrEnum):
    REGISTERED = "registered"
    ONLINE = "online"
    OFFLINE = "offline"


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


SPEC_FIELDS = tuple(field.name for field in fields(MenuItemSpec) if field.name != "id")


def _spec_of(item: MenuItem, **changes: Any) -> MenuItemSpec:
    """The item's fields as a spec, with these changes (None: unchanged)."""
    current = {name: getattr(item, name) for name in SPEC_FIELDS}
    given = {name: value for name, value in changes.items() if value is not None}
    return MenuItemSpec(**{**current, **given}, id=item.id)


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

    def add_menu_item(self, *, name: str, price: Money, cause: Cause, **details: Any) -> MenuItem:
        """A new item; ``details`` are MenuItemSpec's other fields (description, category,
        available, prep_minutes, dietary, sort_order, image_url)."""
        item = checked_item(uuid4(), MenuItemSpec(name=name, price=price, **details))
        self._menu_item_added(item=item, cause=cause)
        return item

    @event("MenuItemAdded")
    def _menu_item_added(self, item: MenuItem, cause: Cause) -> None:
        self.menu[item.id] = item

    def change_menu_item(self, item_id: UUID, *, cause: Cause, **changes: Any) -> MenuItem:
        """The item with these of MenuItemSpec's fields changed (None: left as it is)."""
        current = self.menu_item(item_id)
        item = checked_item(item_id, _spec_of(current, **changes))
        if item != current:
            self._menu_item_changed(item=item, cause=cause)
        return item

    def replace_menu(self, specs: Sequence[MenuItemSpec], cause: Cause) -> tuple[MenuItem, ...]:
        """The menu becomes exactly these items, in one change: those naming an item of the
        menu change it, the others are added, and items left out are removed. If any item
        breaks a rule, InvalidMenu names each one and nothing changes."""
        if len(specs) > MAX_MENU_ITEMS:
            raise InvalidMenu([(MAX_MENU_ITEMS, f"a menu has at most {MAX_MENU_ITEMS} items")])
        items, problems, kept = [], [], set[UUID]()
        for index, spec in enumerate(specs):
            try:
                items.append(checked_item(self._kept_id(spec, kept), spec))
            except InvalidCommand as refusal:
                problems.append((index, str(refusal)))
        if problems:
            raise InvalidMenu(problems)
        for item_id in [item_id for item_id in self.menu if item_id not in kept]:
            self._menu_item_removed(item_id=item_id, cause=cause)
        for item in items:
            if item.id not in self.menu:
                self._menu_item_added(item=item, cause=cause)
            elif item != self.menu[item.id]:
                self._menu_item_changed(item=item, cause=cause)
        return tuple(items)

    def _kept_id(self, spec: MenuItemSpec, kept: set[UUID]) -> UUID:
        """The id the spec's item will have: one of the menu's (each named once), or new."""
        if spec.id is None:
            return uuid4()
        self.menu_item(spec.id)
        if spec.id in kept:
            raise InvalidMenuItem(f"menu item {spec.id} is listed twice")
        kept.add(spec.id)
        return spec.id

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
