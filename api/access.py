"""Ownership: who may see an order, its payment and its delivery (API.md: Authentication).

An order belongs to its customer and is visible to the restaurant's owner and to its assigned
courier; admins see everything; analysts may read orders. To anyone else it does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from uuid import UUID

from api.problems import ApiProblem
from application.identity import Identity
from domain.courier import courier_id_for
from domain.order import Order
from domain.restaurant import Restaurant
from domain.values import Role


class RestaurantLookup(Protocol):
    def get_restaurant(self, restaurant_id: UUID) -> Restaurant: ...


class RestaurantOwners:
    """Who registered each restaurant (it never changes, so it is remembered); unknown
    restaurants raise NotFound."""

    def __init__(self, restaurants: RestaurantLookup) -> None:
        self._restaurants = restaurants
        self._owners: dict[UUID, str] = {}

    def known(self, restaurant_id: UUID) -> str | None:
        """The owner if it is remembered (no I/O: callable from an event loop)."""
        return self._owners.get(restaurant_id)

    def __call__(self, restaurant_id: UUID) -> str:
        owner = self._owners.get(restaurant_id)
        if owner is None:
            owner = self._restaurants.get_restaurant(restaurant_id).owner_id
            self._owners[restaurant_id] = owner
        return owner


def courier_of(caller: Identity) -> str:
    """The courier id a courier's token stands for (a courier profile's id derives from it)."""
    return str(courier_id_for(caller.subject))


def is_party(caller: Identity, order: Order, restaurant_owner: Callable[[UUID], str]) -> bool:
    if caller.role is Role.CUSTOMER:
        return order.customer_id == caller.subject
    if caller.role is Role.RESTAURANT:
        return restaurant_owner(order.restaurant_id) == caller.subject
    if caller.role is Role.COURIER:
        return order.courier_id is not None and order.courier_id == courier_of(caller)
    return False


def require_visible(
    caller: Identity,
    order: Order,
    restaurant_owner: Callable[[UUID], str],
    readers: frozenset[Role] = frozenset({Role.ADMIN}),
    hidden: str | None = None,
) -> None:
    """404 unless the caller is a party to the order or in one of the ``readers`` roles; the
    answer (``hidden``, by default the order's) is word for word the one for no such thing."""
    if caller.role in readers or is_party(caller, order, restaurant_owner):
        return
    raise ApiProblem(404, hidden or f"no order with id {order.id}")


def require_role_of(
    caller: Identity, order: Order, owner: Callable[[UUID], str], *roles: Role
) -> None:
    """For a command: the caller must be the order's party in one of ``roles`` (or admin)."""
    if caller.role is Role.ADMIN:
        return
    if caller.role not in roles or not is_party(caller, order, owner):
        raise ApiProblem(404, f"no order with id {order.id}")
