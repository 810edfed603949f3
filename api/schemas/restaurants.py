"""Restaurants and menus at the API's edge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from api.schemas.common import (
    LocationIn,
    LocationOut,
    MoneyOut,
    PriceIn,
    Strict,
    Text,
    location_out,
    money_out,
    omittable_not_null,
)


class RestaurantCreate(Strict):
    name: Text
    cuisine: str = Field(min_length=1, max_length=80)
    address: str = Field(min_length=1, max_length=500)
    location: LocationIn
    opening_hours: str = Field(default="", max_length=500)


class RestaurantStatus(Strict):
    online: StrictBool


class MenuItemCreate(Strict):
    name: Text
    description: str = Field(default="", max_length=1000)
    price: PriceIn
    category: str = Field(default="", max_length=100)
    available: StrictBool = True


class MenuItemChange(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omittable_not_null)

    name: Text | None = None
    description: str | None = Field(default=None, max_length=1000)
    price: PriceIn | None = None
    category: str | None = Field(default=None, max_length=100)
    available: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> MenuItemChange:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, price, category, available")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class MenuItemPublic(BaseModel):
    id: UUID
    name: str
    description: str
    price: MoneyOut
    category: str
    available: bool
    position: int | None = None


class RestaurantPublic(BaseModel):
    id: UUID
    owner_id: str
    name: str
    cuisine: str
    address: str
    location: LocationOut
    opening_hours: str
    online: bool
    menu: list[MenuItemPublic]
    position: int | None = None


def item_out(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "price": money_out(item.price),
        "category": item.category,
        "available": item.available,
    }


def restaurant_out(restaurant: Any, menu: Any) -> dict[str, Any]:
    """A restaurant (aggregate or catalogue row) and its menu items."""
    return {
        "id": restaurant.id,
        "owner_id": restaurant.owner_id,
        "name": restaurant.name,
        "cuisine": restaurant.cuisine,
        "address": restaurant.address,
        "location": location_out(restaurant.location),
        "opening_hours": restaurant.opening_hours,
        "online": restaurant.online,
        "menu": [item_out(item) for item in menu],
    }
