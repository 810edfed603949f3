"""Personal data kept out of the views: events as the views see them.

The views (SQL tables, hot views) are read by analysts and by anyone with the views database
or Redis; the event store holds the events encrypted. So views never take a person's data in
plaintext:

- ids of people (``customer_id``, ``owner_id``, a person's ``cause.actor_id``) become
  pseudonyms: the same person gets the same pseudonym in every row and every rebuild, so views
  still join, count and filter by them (a caller's lists are looked up by the caller's
  pseudonym), but it is not their account id;
- free text (``reason``) is sealed, and unsealed only where it is shown.

Both are keyed by the platform's keyring (``adapters.keyring_cipher.KeyringPersonal``) and
deterministic, so a replay writes exactly the rows the projector wrote. A platform with no key
(server mode without TIFFIN_EVENT_CIPHER_KEY, which warns at start) keeps them as they are
(``IN_PLAIN``). Views written before this change hold plaintext ids: lookups match both until
the view is rebuilt (``lookups``), and unsealing passes unsealed text through.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from domain.values import Role

PERSONAL_IDS = frozenset({"customer_id", "owner_id"})
FREE_TEXT = frozenset({"reason"})


class Personal(Protocol):
    def pseudonym(self, person: str) -> str:
        """The person's stable pseudonym (their id itself when there is no key)."""
        ...

    def seal(self, text: str) -> str: ...

    def unseal(self, stored: str) -> str:
        """Sealed text opened; text stored unsealed is returned as it is."""
        ...


class InPlain:
    """No keyring: views keep ids and text as they are."""

    def pseudonym(self, person: str) -> str:
        return person

    def seal(self, text: str) -> str:
        return text

    def unseal(self, stored: str) -> str:
        return stored


IN_PLAIN = InPlain()


def lookups(personal: Personal, person: str) -> list[str]:
    """What a view may hold for this person: the pseudonym, and the id itself in rows
    written before views took pseudonyms."""
    pseudonym = personal.pseudonym(person)
    return [pseudonym] if pseudonym == person else [pseudonym, person]


def viewed(event: Any, personal: Personal) -> Any:
    """The event as views may keep it: a copy of the same type, its personal fields
    replaced (the event itself when it has none, or when there is no key)."""
    if personal is IN_PLAIN:
        return event
    changes: dict[str, Any] = {}
    for name in _personal_fields(type(event)):
        value = getattr(event, name)
        if value is None:
            continue
        if name in PERSONAL_IDS:
            changes[name] = personal.pseudonym(value)
        elif name in FREE_TEXT:
            changes[name] = personal.seal(value)
        elif value.role is not Role.SYSTEM:  # a cause; the platform is no person
            changes[name] = dataclasses.replace(value, actor_id=personal.pseudonym(value.actor_id))
    return dataclasses.replace(event, **changes) if changes else event


_FIELDS: dict[type, tuple[str, ...]] = {}  # each event class's personal fields, once


def _personal_fields(event_type: type) -> tuple[str, ...]:
    found = _FIELDS.get(event_type)
    if found is None:
        names = {field.name for field in dataclasses.fields(event_type)}
        found = _FIELDS[event_type] = tuple(sorted(names & (PERSONAL_IDS | FREE_TEXT | {"cause"})))
    return found
