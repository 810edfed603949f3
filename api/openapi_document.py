"""The OpenAPI document as the server behaves, not only as FastAPI sees the routes.

FastAPI documents a route's success and its 422 as ``application/json``. This adds what the
rest of the API does, read off each route: who may call it (the bearer scheme on every route
that needs a caller, the roles of ``allow``, the signature scheme of the payment webhook), and
every error it can answer, each as ``application/problem+json`` (``api.problems``):

- any request: 400 (unreadable: invalid JSON, a NUL in the URL, Content-Length with
  Transfer-Encoding), 413 (body too large), 429 (rate limits) and 503 (a dependency failed);
- a route that needs a caller 401, one narrowed to roles 403;
- parameters or a body 422; a path parameter 404 (nothing the caller may see);
- ``min_position`` 409 (a position the log has not written) and 503 (not reached in time);
- ``Idempotency-Key`` 409 (the first request with the key still runs) and 422 (another body);
- and what a route declares itself in ``responses`` (a state conflict's 409, say).

Text may not hold NUL characters (request bodies: ``Strict``; the URL: a 400), which every
string of a body and every string parameter says; a price says the configured upper bound
(TIFFIN_MAX_ITEM_PRICE) in its pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext

from api.auth import admitted_roles, needs_caller
from api.problems import PROBLEM_JSON, TITLES, api_routes
from api.schemas.amounts import AMOUNT_PATTERN, amount_pattern_at_most

Document = dict[str, Any]
BEARER, SIGNATURE = "bearer", "paymentSignature"
SIGNED_ROUTES = frozenset({"/v1/payments/webhook"})  # authenticated by Tiffin-Signature
EVERY_REQUEST = (400, 413, 429, 503)
NO_NUL = "^[^\\u0000]*$"
PROBLEM: Document = {
    "type": "object",
    "description": "RFC 9457 problem details; some problems carry more members",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "each invalid part of the request: where, and what is wrong",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                },
            },
        },
        "current_status": {"type": "string", "description": "on a 409 for a forbidden step"},
    },
}
SCHEMES: Document = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a platform token (HS256) or a Firebase ID token",
    },
    SIGNATURE: {
        "type": "apiKey",
        "in": "header",
        "name": "Tiffin-Signature",
        "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of t.body> with the webhook secret",
    },
}
HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    429: {"Retry-After": "seconds until a request is let through"},
    503: {"Retry-After": "seconds until a retry may succeed"},
}


def truthful_openapi(app: FastAPI, max_item_price: Decimal) -> Callable[[], Document]:
    """The function to set as ``app.openapi``: builds the document once."""

    def openapi() -> Document:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app, max_item_price)
        return app.openapi_schema

    return openapi


def describe(app: FastAPI, max_item_price: Decimal) -> Document:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    components["securitySchemes"] = SCHEMES
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # 422s are problems too
        schemas.pop(unused, None)
    _forbid_nul(schemas)
    _bound_prices(schemas, amount_pattern_at_most(max_item_price))
    schemas["Problem"] = PROBLEM
    routes = {
        (route.path_format, method.lower()): route
        for route in api_routes(app)
        for method in route.methods or ()
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _describe(operation, routes[(path, method)])
            _forbid_nul([parameter["schema"] for parameter in operation.get("parameters", [])])
    return document


def _describe(operation: Document, route: RouteContext) -> None:
    if route.path_format in SIGNED_ROUTES:
        operation["security"] = [{SIGNATURE: []}]
    elif needs_caller(route.dependant):
        operation["security"] = [{BEARER: []}]
        roles = admitted_roles(route.dependant)
        if roles:
            operation["description"] = _with_roles(operation.get("description", ""), roles)
    else:
        operation["security"] = []
    responses = operation.setdefault("responses", {})
    for status in sorted(_error_statuses(operation, route) | _declared_errors(responses)):
        answer = responses.setdefault(str(status), {})
        answer["description"] = answer.get("description") or TITLES.get(status, "Error")
        if status == 422 and answer["description"] == "Validation Error":
            answer["description"] = "the request is not valid (each part that is not, named)"
        answer["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if status in HEADERS:
            answer["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in HEADERS[status].items()
            }


def _error_statuses(operation: Document, route: RouteContext) -> set[int]:
    statuses = set(EVERY_REQUEST)
    parameters = operation.get("parameters", [])
    names = {parameter["name"] for parameter in parameters}
    if route.path_format in SIGNED_ROUTES or needs_caller(route.dependant):
        statuses.add(401)
    if admitted_roles(route.dependant):
        statuses.add(403)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if "min_position" in names:
        statuses |= {409, 503}
    if "Idempotency-Key" in names:
        statuses |= {409, 422}
    return statuses


def _declared_errors(responses: Document) -> set[int]:
    return {int(status) for status in responses if status.isdigit() and int(status) >= 400}


def _with_roles(description: str, roles: Iterable[str]) -> str:
    line = f"Roles: {', '.join(sorted(roles))}."
    return f"{description}\n\n{line}" if description else line


def _forbid_nul(schema: Any) -> None:
    """Every string says it takes no NUL (unless it has a pattern, a format or values)."""
    for node in _nodes(schema):
        constrained = {"pattern", "enum", "format", "const"} & node.keys()
        if node.get("type") == "string" and not constrained:
            node["pattern"] = NO_NUL


def _bound_prices(schema: Any, pattern: str) -> None:
    """Amounts in requests are prices (``PriceIn``): their pattern says the upper bound."""
    for node in _nodes(schema):
        if node.get("pattern") == AMOUNT_PATTERN:
            node["pattern"] = pattern


def _nodes(schema: Any) -> Iterator[Document]:
    """Every object in a JSON document, outermost first."""
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _nodes(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _nodes(item)
