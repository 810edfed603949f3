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
from pydantic import Strict as PydanticStrict

from api.schemas.amounts import AMOUNT_PATTERN
from domain.values import Location, Money

T = TypeVar("T")
MAX_POSITION = 2**63 - 1  # notification ids are BIGINTs
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


def omittable_not_null(schema: dict[str, Any]) -> None:
    """A change's JSON schema: each field may be left out but is never null, and at least one
    is given (pydantic writes ``X | None = None`` as nullable)."""
    for field in schema.get("properties", {}).values():
        options = [option for option in field.get("anyOf", ()) if option != {"type": "null"}]
        if "anyOf" in field and len(options) == 1:
            del field["anyOf"]
            field.update(options[0])
        elif "anyOf" in field:
            field["anyOf"] = options
    schema["minProperties"] = 1


Coordinate = StrictFloat  # a JSON number (an integer too); never a string or a boolean


def _json_integer(value: Any) -> Any:
    """JSON's integers, as JSON Schema counts them: 214 and 214.0, never 214.5, "214" or true."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number (a JSON number, not text or true/false)")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_json_integer), PydanticStrict()]


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


AmountText = Annotated[StrictStr, Field(pattern=AMOUNT_PATTERN)]
PriceIn = Annotated[
    MoneyIn, BeforeValidator(_money_from_string, json_schema_input_type=MoneyIn | AmountText)
]
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
    return {"amount": money.amount_text, "currency": money.currency}


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
