"""The devices push notifications go to: FCM registration tokens, each held by one party.

A party is who a notification is for, named the way the events name them: a customer by their
user id, a restaurant by its owner's user id, a courier by their courier profile's id (which
derives from the user's). A token belongs to one party at a time: registering it again from
another account (someone else signed in on that phone) moves it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from domain.courier import courier_id_for
from domain.values import Role

# FCM registration tokens: letters, digits, - _ : (and .)
DEVICE_TOKEN_SHAPE = r"^[A-Za-z0-9_:.\-]{16,1024}$"  # noqa: S105 (a pattern, not a secret)
_SHAPE = re.compile(DEVICE_TOKEN_SHAPE)


class InvalidDeviceToken(ValueError):
    """Not an FCM registration token (the message says why)."""


def checked_token(token: str) -> str:
    if not _SHAPE.fullmatch(token):
        raise InvalidDeviceToken(
            "a device token is an FCM registration token: 16 to 1024 letters, digits, "
            "'-', '_', ':' or '.'"
        )
    return token


def party_of(role: Role, subject: str) -> str:
    """The party a caller (or an event's actor) is."""
    if role is Role.COURIER:
        return courier_party(str(courier_id_for(subject)))
    return f"{role}:{subject}"


def customer_party(customer_id: str) -> str:
    return f"{Role.CUSTOMER}:{customer_id}"


def restaurant_party(owner_id: str) -> str:
    return f"{Role.RESTAURANT}:{owner_id}"


def courier_party(courier_id: str) -> str:
    return f"{Role.COURIER}:{courier_id}"


@dataclass(frozen=True)
class Device:
    token: str
    party: str
    registered_at: float


class DeviceRegistry(Protocol):
    def register(self, party: str, token: str, now: float) -> tuple[Device, bool]:
        """Holds ``token`` for ``party`` (moving it from another party); True if it is new to
        this party. Past the registry's limit (TIFFIN_PUSH_MAX_DEVICES) the party's least recently
        registered goes."""
        ...

    def remove(self, token: str, party: str | None = None) -> bool:
        """Forgets the token (only if ``party`` holds it, when given); False if it was not."""
        ...

    def devices(self, party: str) -> list[Device]:
        """The party's devices, most recently registered first."""
        ...

    def holder(self, token: str) -> str | None:
        """The party holding the token now, if any."""
        ...
