"""Who is calling, and may they call this route: bearer tokens, roles and rate limits.

``Caller`` is any authenticated user; ``allow(Role.X, ...)`` narrows a route to roles (403
otherwise). Ownership (whose order, whose restaurant) is checked by the routes, which answer 404
for what the caller may not see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.dependencies import Limits, Tokens
from api.problems import ApiProblem, unauthorized
from application.identity import Identity
from domain.values import Role

READ_ONLY = frozenset({Role.ANALYST, Role.AUDITOR})


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("an Authorization: Bearer token is required")
    return token.strip()


async def current_caller(request: Request, tokens: Tokens, limits: Limits) -> Identity:
    """The verified caller, once the route's rate limit has let the request through."""
    token = _bearer(request)
    if tokens.needs_thread(token):
        identity = await run_in_threadpool(tokens.verify, token)
    else:
        identity = tokens.verify(token)
    request.state.subject = identity.subject
    await limits.check(request, identity)
    return identity


Caller = Annotated[Identity, Depends(current_caller)]


def allow(*roles: Role) -> Any:
    """A dependency admitting only callers in these roles (admin is always admitted)."""
    admitted = frozenset(roles) | {Role.ADMIN}
    names = ", ".join(sorted(str(role) for role in admitted))

    async def admitted_caller(caller: Caller) -> Identity:
        if caller.role not in admitted:
            raise ApiProblem(403, f"this needs one of the roles: {names}")
        return caller

    return Depends(admitted_caller)
