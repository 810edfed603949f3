"""Checks of the API's answers shared by the end-to-end flows: statuses, money, positions,
timestamps, and waiting (bounded) for another process's progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from tests.polling import Seen, poll_until_async

SAGA_WITHIN_SECONDS = 20.0
POLL_EVERY_SECONDS = 0.05


@dataclass(frozen=True)
class Reply:
    """A whole response: status, headers (names in lower case) and the body parsed as JSON
    (None when empty, the text when not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class Send(Protocol):
    """Sends one request; ``body`` bytes go as they are (JSON already), any other body is
    sent as JSON; ``token`` (if any) as a bearer token."""

    def __call__(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[Reply]: ...


def expect(reply: Reply, status: int, what: str) -> Any:
    """The body of ``reply``, which must have ``status``."""
    assert reply.status == status, f"{what}: expected {status}, got {reply.status}: {reply.body}"
    return reply.body


def rupees(amount: Decimal) -> dict[str, str]:
    """Money as the API writes it: an exact decimal string with two places, and INR."""
    return {"amount": f"{amount:.2f}", "currency": "INR"}


def position_of(command_answer: Mapping[str, Any], after: int = 0) -> int:
    """A command's ``position``: a whole number, later than ``after`` in the same log."""
    position = command_answer.get("position")
    assert type(position) is int, f"no position in {command_answer}"
    assert position > after, f"position {position} is not after {after}"
    return position


def moment(order: Mapping[str, Any], name: str) -> datetime:
    """One of an order's timestamps, which must be set (and carry its time zone)."""
    value = order["timestamps"][name]
    assert value is not None, f"{name} is not set: {order['timestamps']}"
    at = datetime.fromisoformat(value)
    assert at.tzinfo is not None, f"{name} has no time zone: {value}"
    return at


def unset_moments(order: Mapping[str, Any]) -> set[str]:
    return {name for name, value in order["timestamps"].items() if value is None}


async def poll(
    send: Send,
    path: str,
    token: str | None,
    done: Callable[[Any], Any],
    waiting_for: str,
    *,
    meanwhile: Collection[int] = (),
) -> Any:
    """GETs ``path`` every 50 ms until a 200 answer is ``done`` (truthy); a status in ``meanwhile``
    is fine until then, any other is a failure, and so is taking over 20 s."""

    async def look(seen: Seen) -> Any:
        reply = await send("GET", path, token)
        seen.last = f"GET {path} answered {reply.status} {reply.body}"
        if reply.status == 200 and done(reply.body):
            return reply.body
        assert reply.status in {200, *meanwhile}, f"{waiting_for}: {reply.status} {reply.body}"
        return None

    return await poll_until_async(
        look, within=SAGA_WITHIN_SECONDS, what=waiting_for, every=POLL_EVERY_SECONDS
    )
