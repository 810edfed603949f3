"""Restaurants and menus at the API's edge."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
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
    whole_number_in,
)
from domain.menu import (
    DEFAULT_PREP_MINUTES,
    DIETARY_TAGS,
    MAX_IMAGE_URL,
    MAX_MENU_ITEMS,
    MAX_PREP_MINUTES,
    MAX_SORT_ORDER,
    MIN_PREP_MINUTES,
    MenuItemSpec,
)


class RestaurantCreate(Strict):
    name: Text
    cuisine: str = Field(min_length=1, max_length=80)
    address: str = Field(min_length=1, max_length=500)
    location: LocationIn
    opening_hours: str = Field(default="", max_length=500)


class RestaurantStatus(Strict):
    online: StrictBool


DietaryTag = StrEnum("DietaryTag", {tag: tag for tag in sorted(DIETARY_TAGS)})  # type: ignore[misc]
if TYPE_CHECKING:  # what the bounded aliases hold
    PrepMinutes = int
    SortOrder = int
else:
    PrepMinutes = whole_number_in(MIN_PREP_MINUTES, MAX_PREP_MINUTES)  # minutes to make one
    SortOrder = whole_number_in(0, MAX_SORT_ORDER)  # its place within its category
ImageUrl = Annotated[str, Field(max_length=MAX_IMAGE_URL, pattern=r"^(https://\S+)?$")]
DietaryTags = Annotated[list[DietaryTag], Field(max_length=len(DIETARY_TAGS))]


class MenuItemCreate(Strict):
    name: Text
    description: str = Field(default="", max_length=1000)
    price: PriceIn
    category: str = Field(default="", max_length=100)
    available: StrictBool = True
    prep_minutes: PrepMinutes = DEFAULT_PREP_MINUTES
    dietary: DietaryTags = Field(default_factory=list)
    sort_order: SortOrder = 0
    image_url: ImageUrl = ""

    def details(self) -> dict[str, Any]:
        """The item's fields but its name and price, as the domain takes them."""
        return {
            "description": self.description,
            "category": self.category,
            "available": self.available,
            "prep_minutes": self.prep_minutes,
            "dietary": tuple(str(tag) for tag in self.dietary),
            "sort_order": self.sort_order,
            "image_url": self.image_url,
        }


class MenuItemReplacement(MenuItemCreate):
    id: UUID | None = Field(default=None, description="an item of the menu to keep; none: new")

    def spec(self) -> MenuItemSpec:
        return MenuItemSpec(name=self.name, price=self.price.value(), id=self.id, **self.details())


class MenuIn(Strict):
    items: list[MenuItemReplacement] = Field(max_length=MAX_MENU_ITEMS)


class MenuItemChange(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omittable_not_null)

    name: Text | None = None
    description: str | None = Field(default=None, max_length=1000)
    price: PriceIn | None = None
    category: str | None = Field(default=None, max_length=100)
    available: StrictBool | None = None
    prep_minutes: PrepMinutes | None = None
    dietary: DietaryTags | None = None
    sort_order: SortOrder | None = None
    image_url: ImageUrl | None = None

    @model_validator(mode="after")
    def _something(self) -> MenuItemChange:
        if not self.model_fields_set:
            raise ValueError(f"give at least one of {', '.join(MenuItemChange.model_fields)}")
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
    prep_minutes: int
    dietary: list[str]
    sort_order: int
    image_url: str
    position: int | None = None


class MenuOut(BaseModel):
    restaurant_id: UUID
    items: list[MenuItemPublic]  # by category, then sort order, then name
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
        "prep_minutes": item.prep_minutes,
        "dietary": list(item.dietary),
        "sort_order": item.sort_order,
        "image_url": item.image_url,
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
