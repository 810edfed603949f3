"""Every error the API answers is ``application/problem+json`` (RFC 9457), and none is a 500.

One place maps the applications' and the domain's errors to HTTP (``add_problem_handlers``):
bad input 400/422, a missing or bad token 401, no right 403, nothing the caller may see 404, a
state conflict or concurrent change 409, and an unexpected failure of a dependency 503 with
``Retry-After``, logged with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.errors import NotFound
from application.identity import InvalidToken, TokenVerifierUnavailable
from domain.errors import IllegalTransition, InvalidCommand, StateConflict

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 1
log = logging.getLogger("tiffin.api")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """An answer other than success, raised anywhere in a request and sent as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        members: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None
        self.members = dict(members or {})  # more of the problem, e.g. current_status


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def unavailable(detail: str) -> ApiProblem:
    return ApiProblem(503, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def problem_body(
    status: int,
    detail: str,
    errors: Sequence[Mapping[str, Any]] | None = None,
    members: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        **(members or {}),
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return body


def problem_response(problem: ApiProblem) -> JSONResponse:
    return JSONResponse(
        problem_body(problem.status, problem.detail, problem.errors, problem.members),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def as_problem(error: BaseException, request_id: str = "-") -> ApiProblem:
    """The problem an exception raised while handling a request stands for."""
    if isinstance(error, ApiProblem):
        return error
    if isinstance(error, InvalidToken):
        return unauthorized(str(error))
    if isinstance(error, TokenVerifierUnavailable):
        return unavailable("tokens cannot be checked right now")
    if isinstance(error, NotFound):
        return ApiProblem(404, str(error))
    if isinstance(error, IllegalTransition):  # the retry of a lost answer can tell it apart
        return ApiProblem(409, str(error), members={"current_status": str(error.status)})
    if isinstance(error, StateConflict):
        return ApiProblem(409, str(error))
    if isinstance(error, InvalidCommand):
        return ApiProblem(422, str(error))
    if isinstance(error, StarletteHTTPException):
        return ApiProblem(error.status_code, str(error.detail), headers=error.headers)
    log.error(
        "request %s failed: %s", request_id, type(error).__name__, exc_info=error
    )  # a dependency failed: the caller may retry, the log keeps the cause
    return unavailable("a service the platform depends on failed; retry shortly")


def _validation_problem(error: RequestValidationError) -> ApiProblem:
    problems = [
        {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", ""))}
        for item in error.errors()
    ]
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        return ApiProblem(400, "the request body is not valid JSON", errors=problems)
    return ApiProblem(422, "the request is not valid", errors=problems)


CallerCheck = Callable[[Request], Awaitable["ApiProblem | None"]]


def add_problem_handlers(app: FastAPI, check_caller: CallerCheck) -> None:
    """Maps every error a route may raise to problem+json. A request that cannot be read is
    first asked who is calling (``check_caller``): an anonymous one gets its 401 instead."""

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        refused = await check_caller(request)
        return problem_response(refused or _validation_problem(error))

    async def on_error(request: Request, error: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        problem = as_problem(error, request_id)
        if problem.status == 405:  # Starlette names the methods of the first route only
            allowed = ", ".join(methods_of_path(app, request.scope))
            problem = ApiProblem(405, problem.detail, headers={"Allow": allowed})
        return problem_response(problem)

    app.add_exception_handler(RequestValidationError, on_validation)
    handled: tuple[type[Exception], ...] = (
        ApiProblem,
        StarletteHTTPException,
        InvalidToken,
        TokenVerifierUnavailable,
        NotFound,
        StateConflict,
        InvalidCommand,
    )
    for kind in handled:
        app.add_exception_handler(kind, on_error)


def methods_of_path(app: FastAPI, scope: Any) -> list[str]:
    """Every method the API answers at this request's path (of every route whose path
    matches it: Starlette names the first route's only)."""
    methods: set[str] = set()
    for route in api_routes(app):
        if route.path_regex.fullmatch(scope["path"]):
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def api_routes(app: FastAPI) -> list[RouteContext]:
    """The app's API routes, those of included routers too, each with its full path."""
    return [
        route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]
