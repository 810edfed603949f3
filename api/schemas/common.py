"""Shapes shared by the API's requests and responses (API.md: Conventions)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictStr,
    model_validator,
)

from domain.values import Location, Money

T = TypeVar("T")
MAX_POSITION = 2**63 - 1  # notification ids are BIGINTs
AMOUNT_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,2})?$"  # ASCII digits ("\d" takes any script's)
PLATFORM_CURRENCY: Literal["INR"] = (
    "INR"  # the one currency prices are in (one platform, one country)
)


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so is text holding a NUL character
    (no database keeps it, so it could never be read back)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _holds_nul(data):
            raise ValueError("text must not contain NUL (U+0000) characters")
        return data


def _holds_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_holds_nul(item) for item in data)
    return False


Coordinate = StrictFloat  # a JSON number (an integer too); never a string or a boolean


class LocationIn(Strict):
    lat: Coordinate = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: Coordinate = Field(ge=-180, le=180, allow_inf_nan=False)

    def value(self) -> Location:
        return Location(self.lat, self.lng)


class MoneyIn(Strict):
    amount: StrictStr = Field(pattern=AMOUNT_PATTERN, examples=["450.00"])
    currency: Literal["INR"] = PLATFORM_CURRENCY

    def value(self) -> Money:
        return Money.parse(self.amount, self.currency)


def _money_from_string(value: Any) -> Any:
    """A bare amount ("120.00") is taken as rupees (and checked as the amount is)."""
    if isinstance(value, str):
        return {"amount": value, "currency": PLATFORM_CURRENCY}
    return value


PriceIn = Annotated[MoneyIn, BeforeValidator(_money_from_string)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class MoneyOut(BaseModel):
    amount: str = Field(examples=["450.00"])
    currency: str = Field(examples=["INR"])


class LocationOut(BaseModel):
    lat: float
    lng: float


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def money_out(money: Money) -> dict[str, str]:
    return {"amount": str(money.amount), "currency": money.currency}


def location_out(location: Location) -> dict[str, float]:
    return {"lat": location.lat, "lng": location.lng}


def _position_of(log: str) -> Any:
    return Query(
        ge=0,
        le=MAX_POSITION,
        description=f"wait until this query's view has taken in this position of the {log} log",
    )


RestaurantsPosition = Annotated[int | None, _position_of("Restaurants")]
OrderingPosition = Annotated[int | None, _position_of("Ordering")]
DeliveriesPosition = Annotated[int | None, _position_of("Deliveries")]
