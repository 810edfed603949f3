"""Who is calling, and may they call this route: bearer tokens, roles and rate limits.

``Caller`` is any authenticated user; ``allow(Role.X, ...)`` narrows a route to roles (403
otherwise). Ownership (whose order, whose restaurant) is checked by the routes, which answer 404
for what the caller may not see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from starlette.concurrency import run_in_threadpool

from api.dependencies import Limits, Tokens
from api.problems import ApiProblem, unauthorized
from application.identity import BearerVerifier, Identity, InvalidToken
from domain.values import Role

READ_ONLY = frozenset({Role.ANALYST, Role.AUDITOR})


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("an Authorization: Bearer token is required")
    return token.strip()


async def _verified(request: Request, tokens: BearerVerifier) -> Identity:
    token = _bearer(request)
    if tokens.needs_thread(token):
        return await run_in_threadpool(tokens.verify, token)
    return tokens.verify(token)


async def current_caller(request: Request, tokens: Tokens, limits: Limits) -> Identity:
    """The verified caller, once the route's rate limit has let the request through (a
    request without a valid token counts against its address's limit before its 401)."""
    try:
        identity = await _verified(request, tokens)
    except (ApiProblem, InvalidToken):
        await limits.check_anonymous(request)
        raise
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

    admitted_caller.roles = admitted  # type: ignore[attr-defined]  # read by admitted_roles
    return Depends(admitted_caller)


def needs_caller(dependant: Any) -> bool:
    """Whether a route's dependencies include the verified caller (a bearer token)."""
    return any(d.call is current_caller or needs_caller(d) for d in dependant.dependencies)


def admitted_roles(dependant: Any) -> frozenset[str]:
    """The roles ``allow`` narrows a route to (none when any caller may call it)."""
    roles: frozenset[str] = frozenset()
    for dependency in dependant.dependencies:
        found = getattr(dependency.call, "roles", None)
        if found is not None:
            roles |= {str(role) for role in found}
        roles |= admitted_roles(dependency)
    return roles


async def refusal_of_anonymous(request: Request) -> ApiProblem | None:
    """For a request whose body could not be read: the 401 its caller gets first, if the
    route needs a caller and the request carries no valid token (who is calling is checked
    before what they sent)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not needs_caller(dependant):
        return None
    try:
        await _verified(request, request.app.state.parts.tokens)
    except ApiProblem as problem:
        return problem
    except InvalidToken as error:
        return unauthorized(str(error))
    return None


async def limit_anonymous(request: HTTPConnection, limits: Limits) -> None:
    """Every route's first step: a request without a token counts against its client
    address's limit (one with a token is counted once it is verified, by ``Caller``)."""
    if "authorization" not in request.headers:
        await limits.check_anonymous(request)
