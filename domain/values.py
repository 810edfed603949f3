"""Value objects shared by the aggregates."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from domain.errors import CurrencyMismatch, InvalidLocation, InvalidMoney, InvalidText

DEFAULT_CURRENCY = "INR"
MINOR_UNITS_PER_MAJOR = 100
MAX_DIGITS = 15  # before the decimal point: far above any price, far below any overflow
DECIMAL_TEXT = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,20})?")  # ASCII digits only


class Role(StrEnum):
    CUSTOMER = "customer"
    RESTAURANT = "restaurant"
    COURIER = "courier"
    ADMIN = "admin"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    SYSTEM = "system"  # the platform itself: sagas, deadlines, gateway webhooks


@dataclass(frozen=True)
class Cause:
    """Who caused an event, and which request or process it belongs to."""

    actor_id: str
    role: Role
    correlation_id: str

    def __post_init__(self) -> None:
        if not self.actor_id:
            raise InvalidText("an event needs the id of the actor who caused it")
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True, order=True)
class Money:
    """An exact amount in minor units (paise for INR) with its currency."""

    minor: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise InvalidMoney(f"money must be a whole number of minor units, got {self.minor!r}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise InvalidMoney(f"currency must be an ISO 4217 code, got {self.currency!r}")

    @classmethod
    def parse(cls, amount: str | Decimal | int, currency: str = DEFAULT_CURRENCY) -> Money:
        """Money from a decimal amount in major units, e.g. ``"450.00"``; floats are refused."""
        if isinstance(amount, bool) or not isinstance(amount, str | Decimal | int):
            raise InvalidMoney(f"amount must be a decimal string, got {amount!r}")
        if isinstance(amount, str) and not DECIMAL_TEXT.fullmatch(amount):
            shown = amount if len(amount) <= 40 else f"{amount[:40]}..."
            raise InvalidMoney(
                f"amount must be written in ASCII digits, like 450.00 (at most 15 before the "
                f"point), got {shown!r}"
            )
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise InvalidMoney(f"amount is not a decimal number: {amount!r}") from None
        if not value.is_finite() or abs(value.adjusted()) > MAX_DIGITS:
            raise InvalidMoney(f"amount must be a finite number below 10^{MAX_DIGITS}")
        minor = value * MINOR_UNITS_PER_MAJOR
        if minor != minor.to_integral_value():
            raise InvalidMoney(f"amount has more than two decimal places: {amount!r}")
        return cls(int(minor), currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.minor) / MINOR_UNITS_PER_MAJOR).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )

    @property
    def amount_text(self) -> str:
        """``str(self.amount)`` (``"450.00"``, ``"-1.50"``) without the Decimal arithmetic:
        every response, view and integration event writes amounts this way."""
        whole, cents = divmod(abs(self.minor), MINOR_UNITS_PER_MAJOR)
        return f"{'-' if self.minor < 0 else ''}{whole}.{cents:02d}"

    def __str__(self) -> str:
        return f"{self.amount_text} {self.currency}"

    def __add__(self, other: Money) -> Money:
        self._require_same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.minor * quantity, self.currency)

    def is_positive(self) -> bool:
        return self.minor > 0

    def _require_same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")


EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Location:
    """A point on Earth in decimal degrees (WGS 84)."""

    lat: float
    lng: float

    def __post_init__(self) -> None:
        for name, value, limit in (("lat", self.lat, 90.0), ("lng", self.lng, 180.0)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidLocation(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or not -limit <= value <= limit:
                raise InvalidLocation(f"{name} must be between -{limit} and {limit}, got {value}")
            object.__setattr__(self, name, float(value))

    def distance_km(self, other: Location) -> float:
        """Great-circle distance (haversine)."""
        lat1, lat2 = math.radians(self.lat), math.radians(other.lat)
        dlat = lat2 - lat1
        dlng = math.radians(other.lng - self.lng)
        h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def require_text(value: str, what: str, max_length: int = 200) -> str:
    """A stripped, non-empty text field of bounded length."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidText(f"{what} must not be empty")
    if len(text) > max_length:
        raise InvalidText(f"{what} must be at most {max_length} characters")
    return text
