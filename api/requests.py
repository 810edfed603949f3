"""What a request tells the applications: who caused the change, in which correlation."""

from __future__ import annotations

from fastapi import Request

from application.identity import Identity
from domain.values import Cause


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "-")


def cause_of(caller: Identity, request: Request) -> Cause:
    """The caller caused it; the request id correlates its events (and the saga's reactions)."""
    return Cause(caller.subject, caller.role, f"request:{request_id_of(request)}")
