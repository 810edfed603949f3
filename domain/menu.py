"""A restaurant's menu items, and the rules each item keeps."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

from domain.errors import InvalidMenuItem, InvalidPrepMinutes, InvalidPrice
from domain.values import Money, require_text

DIETARY_TAGS = frozenset(
    {"veg", "vegan", "jain", "egg", "contains_nuts", "gluten_free", "dairy_free", "spicy"}
)
DEFAULT_PREP_MINUTES = 15
MIN_PREP_MINUTES, MAX_PREP_MINUTES = 1, 240
MAX_SORT_ORDER = 10_000
MAX_IMAGE_URL = 2_000
MAX_MENU_ITEMS = 500


@dataclass(frozen=True)
class MenuItem:
    id: UUID
    name: str
    description: str
    price: Money
    category: str
    available: bool
    prep_minutes: int = DEFAULT_PREP_MINUTES  # how long the kitchen takes to make one
    dietary: tuple[str, ...] = ()  # sorted tags of DIETARY_TAGS
    sort_order: int = 0  # where it is listed within its category (then by name)
    image_url: str = ""  # an https URL, or none


@dataclass(frozen=True)
class MenuItemSpec:
    """What an owner asks an item of the menu to be; ``id`` names an item to keep (and change),
    none a new one."""

    name: str
    price: Money
    description: str = ""
    category: str = ""
    available: bool = True
    prep_minutes: int = DEFAULT_PREP_MINUTES
    dietary: tuple[str, ...] = ()
    sort_order: int = 0
    image_url: str = ""
    id: UUID | None = None


def checked_item(item_id: UUID, spec: MenuItemSpec) -> MenuItem:
    """The item as stored, its text stripped; the first rule it breaks is raised."""
    if not spec.price.is_positive():
        raise InvalidPrice(f"a price must be more than zero, got {spec.price}")
    return MenuItem(
        id=item_id,
        name=require_text(spec.name, "item name"),
        description=spec.description.strip(),
        price=spec.price,
        category=spec.category.strip(),
        available=bool(spec.available),
        prep_minutes=_prep_minutes(spec.prep_minutes),
        dietary=_dietary(spec.dietary),
        sort_order=_sort_order(spec.sort_order),
        image_url=_image_url(spec.image_url),
    )


def _prep_minutes(minutes: int) -> int:
    if type(minutes) is not int or not MIN_PREP_MINUTES <= minutes <= MAX_PREP_MINUTES:
        raise InvalidPrepMinutes(
            f"preparation takes {MIN_PREP_MINUTES} to {MAX_PREP_MINUTES} minutes, got {minutes!r}"
        )
    return minutes


def _dietary(tags: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(tags) - DIETARY_TAGS)
    if unknown:
        raise InvalidMenuItem(
            f"unknown dietary tags {unknown}; they are {', '.join(sorted(DIETARY_TAGS))}"
        )
    return tuple(sorted(set(tags)))


def _sort_order(order: int) -> int:
    if type(order) is not int or not 0 <= order <= MAX_SORT_ORDER:
        raise InvalidMenuItem(f"sort order must be 0 to {MAX_SORT_ORDER}, got {order!r}")
    return order


def _image_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if len(url) > MAX_IMAGE_URL or parts.scheme != "https" or not parts.netloc or " " in url:
        raise InvalidMenuItem(f"an image URL is https://… of at most {MAX_IMAGE_URL} characters")
    return url
