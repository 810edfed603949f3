"""Restaurant: online/offline, the menu, and pricing an order from the live menu."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from domain.errors import (
    DomainError,
    EmptyOrder,
    IllegalTransition,
    InvalidPrice,
    InvalidQuantity,
    InvalidText,
    MenuItemUnavailable,
    RestaurantOffline,
    UnknownMenuItem,
)
from domain.restaurant import LineRequest, Restaurant
from domain.values import Location, Money, Role
from tests.unit.domain.aggregate_machine import TEXTS, AggregateMachine, cause, is_blank, mostly

OWNER = cause(Role.RESTAURANT, "owner-1")
NEVER_ON_THE_MENU = UUID(int=7)

PRICES = mostly(st.integers(min_value=1, max_value=100_000), st.sampled_from([0, -1, -25_000]))
AVAILABILITY = mostly(st.just(True), st.just(False))
QUANTITIES = mostly(st.integers(min_value=1, max_value=50), st.sampled_from([0, 51]))
OPTIONAL_TEXTS = st.none() | TEXTS


@dataclass(frozen=True)
class ExpectedItem:
    name: str
    description: str
    price: Money
    category: str
    available: bool


class RestaurantMachine(AggregateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.status = "registered"
        self.menu: dict[UUID, ExpectedItem] = {}
        self.removed: list[UUID] = []

    @initialize(name=st.text(min_size=1, max_size=12).filter(str.strip))
    def register(self, name: str) -> None:
        self.created(
            Restaurant.register(
                owner_id=OWNER.actor_id,
                name=name,
                cuisine="south indian",
                address="32 Gandhi Bazaar",
                location=Location(12.9452, 77.5713),
                opening_hours=" 7-22 ",
                cause=OWNER,
            ),
            "Registered",
        )

    def any_item_id(self, data: st.DataObject) -> UUID:
        """Mostly an item of the menu; otherwise one removed from it, or one never on it."""
        strangers = st.sampled_from([*self.removed, NEVER_ON_THE_MENU])
        if not self.menu:
            return data.draw(strangers)
        return data.draw(mostly(st.sampled_from(list(self.menu)), strangers))

    @rule()
    def go_online(self) -> None:
        refusals = [IllegalTransition] if self.status == "online" else []
        self.attempt(refusals, lambda: self.aggregate.go_online(OWNER), "WentOnline")
        if not refusals:
            self.status = "online"

    @rule()
    def go_offline(self) -> None:
        refusals = [] if self.status == "online" else [IllegalTransition]
        self.attempt(refusals, lambda: self.aggregate.go_offline(OWNER), "WentOffline")
        if not refusals:
            self.status = "offline"

    @rule(name=TEXTS, price=PRICES, description=TEXTS, category=TEXTS, available=AVAILABILITY)
    def add_menu_item(
        self, name: str, price: int, description: str, category: str, available: bool
    ) -> None:
        refusals: list[type[DomainError]] = []
        if is_blank(name):
            refusals.append(InvalidText)
        if price <= 0:
            refusals.append(InvalidPrice)
        item = self.attempt(
            refusals,
            lambda: self.aggregate.add_menu_item(
                name=name,
                price=Money(price),
                description=description,
                category=category,
                available=available,
                cause=OWNER,
            ),
            "MenuItemAdded",
        )
        if item is not None:
            assert item.id not in self.menu
            self.menu[item.id] = ExpectedItem(
                name.strip(), description.strip(), Money(price), category.strip(), available
            )

    @rule(
        data=st.data(),
        name=OPTIONAL_TEXTS,
        description=st.none() | st.text(max_size=12),
        price=st.none() | PRICES,
        category=OPTIONAL_TEXTS,
        available=st.none() | st.booleans(),
    )
    def change_menu_item(
        self,
        data: st.DataObject,
        name: str | None,
        description: str | None,
        price: int | None,
        category: str | None,
        available: bool | None,
    ) -> None:
        item_id = self.any_item_id(data)
        refusals: list[type[DomainError]] = []
        if item_id not in self.menu:
            refusals.append(UnknownMenuItem)
        if name is not None and is_blank(name):
            refusals.append(InvalidText)
        if price is not None and price <= 0:
            refusals.append(InvalidPrice)
        changed = None
        if not refusals:
            current = self.menu[item_id]
            changed = ExpectedItem(
                current.name if name is None else name.strip(),
                current.description if description is None else description.strip(),
                current.price if price is None else Money(price),
                current.category if category is None else category.strip(),
                current.available if available is None else available,
            )
        # Changing an item to what it already is records nothing.
        events = [] if changed is None or changed == self.menu[item_id] else ["MenuItemChanged"]
        self.attempt(
            refusals,
            lambda: self.aggregate.change_menu_item(
                item_id,
                name=name,
                description=description,
                price=None if price is None else Money(price),
                category=category,
                available=available,
                cause=OWNER,
            ),
            *events,
        )
        if changed is not None:
            self.menu[item_id] = changed

    @rule(data=st.data())
    def remove_menu_item(self, data: st.DataObject) -> None:
        item_id = self.any_item_id(data)
        refusals = [] if item_id in self.menu else [UnknownMenuItem]
        self.attempt(
            refusals, lambda: self.aggregate.remove_menu_item(item_id, OWNER), "MenuItemRemoved"
        )
        if not refusals:
            del self.menu[item_id]
            self.removed.append(item_id)

    @rule(data=st.data(), size=st.integers(min_value=0, max_value=4))
    def price_order(self, data: st.DataObject, size: int) -> None:
        requests = [
            LineRequest(self.any_item_id(data), data.draw(QUANTITIES), data.draw(TEXTS))
            for _ in range(size)
        ]
        self.check_pricing(requests)

    @precondition(lambda self: self.status == "online" and self.menu)
    @rule(data=st.data())
    def price_a_basket_from_the_menu(self, data: st.DataObject) -> None:
        lines = st.tuples(st.sampled_from(list(self.menu)), QUANTITIES, st.text(max_size=8))
        baskets = st.lists(lines.map(lambda line: LineRequest(*line)), min_size=1, max_size=4)
        self.check_pricing(data.draw(baskets))

    def check_pricing(self, requests: list[LineRequest]) -> None:
        refusals: set[type[DomainError]] = set()
        if self.status != "online":
            refusals.add(RestaurantOffline)
        if not requests:
            refusals.add(EmptyOrder)
        for request in requests:
            if not 1 <= request.quantity <= 50:
                refusals.add(InvalidQuantity)
            if request.menu_item_id not in self.menu:
                refusals.add(UnknownMenuItem)
            elif not self.menu[request.menu_item_id].available:
                refusals.add(MenuItemUnavailable)
        lines = self.attempt(refusals, lambda: self.aggregate.price_order(requests))
        if lines is not None:
            expected = [
                (
                    request.menu_item_id,
                    self.menu[request.menu_item_id].name,
                    self.menu[request.menu_item_id].price,
                    request.quantity,
                    request.notes.strip(),
                )
                for request in requests
            ]
            actual = [
                (line.menu_item_id, line.name, line.unit_price, line.quantity, line.notes)
                for line in lines
            ]
            assert actual == expected
            for line in lines:
                assert line.line_total == Money(line.unit_price.minor * line.quantity)  # INR

    @invariant()
    def the_model_matches_the_restaurant(self) -> None:
        restaurant = self.aggregate
        assert restaurant.status == self.status
        assert restaurant.online is (self.status == "online")
        actual = {
            item_id: ExpectedItem(
                item.name, item.description, item.price, item.category, item.available
            )
            for item_id, item in restaurant.menu.items()
        }
        assert actual == self.menu
        assert all(item.id == item_id for item_id, item in restaurant.menu.items())


TestRestaurantStateMachine = RestaurantMachine.TestCase
TestRestaurantStateMachine.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None
)
