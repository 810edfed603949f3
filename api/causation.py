"""What a request tells the applications: who caused the change, in which correlation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request

from application.errors import ConcurrentChange
from application.identity import Identity
from domain.values import Cause

T = TypeVar("T")
COMMAND_ATTEMPTS = 3


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "-")


def cause_of(caller: Identity, request: Request) -> Cause:
    """The caller caused it; the request id correlates its events (and the saga's reactions)."""
    return Cause(caller.subject, caller.role, f"request:{request_id_of(request)}")


def retrying_conflicts(command: Callable[[], T]) -> T:
    """Runs a command that loads what it changes, again if someone else (often the saga, on
    the same order) saved a change first: the rerun decides on the new state, so a command
    that no longer fits is refused then (409). After COMMAND_ATTEMPTS, the conflict is 409."""
    for _ in range(COMMAND_ATTEMPTS - 1):
        try:
            return command()
        except ConcurrentChange:
            continue
    return command()
