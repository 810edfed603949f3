"""Requests generated from an OpenAPI 3.1 document (the subset FastAPI writes), and a small
checker of responses against its schemas: types, required properties, ``anyOf``, ``$ref``,
enums and the formats uuid, date and date-time (jsonschema is not a dependency here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

import httpx
from hypothesis import strategies as st

Spec = dict[str, Any]
# Values at the edges of what the stores and the calendar can hold.
EDGE_TEXT = ("\x00", "nul\x00byte", "9999-12-31", "0001-01-01T00:00:00+14:00", "WyJhIiwgImIiXQ")
EDGE_NUMBERS = (2**63, -(2**63) - 1, 10**30)
SMALL_SCALAR_JUNK: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(EDGE_TEXT),
    st.sampled_from(EDGE_NUMBERS),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has no NaN
    st.text(max_size=30),
)
HUGE_TEXT = st.text(min_size=2_000, max_size=20_000)  # well under the body limit


def _nested(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=8,
    )


JUNK = _nested(SMALL_SCALAR_JUNK | HUGE_TEXT)
# For a URL's query: junk that keeps the request head within what servers read (Hypercorn's
# HTTP/1.1 parser answers a head past 16 KiB with its own 431, before the app sees it).
SMALL_JUNK = _nested(SMALL_SCALAR_JUNK) | HUGE_TEXT.map(lambda text: text[:100])


def deref(spec: Spec, schema: Any) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema if isinstance(schema, dict) else {}


def values(spec: Spec, schema: Any, junk: bool = False) -> st.SearchStrategy[Any]:
    """Values meant to satisfy ``schema`` (best effort: a pattern's regex, bounds, required
    and optional properties); with ``junk``, any part of them may be junk instead."""
    valid = _valid(spec, deref(spec, schema), junk)
    return st.one_of(valid, JUNK) if junk else valid


def _valid(spec: Spec, schema: dict[str, Any], junk: bool) -> st.SearchStrategy[Any]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of(*(values(spec, option, junk) for option in options))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return _strings(schema)
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -(10**6) - 1) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", 10**6 + 1) - 1)
        if "maximum" in schema or "exclusiveMaximum" in schema:
            return st.integers(low, high)
        return st.integers(low, high) | st.sampled_from([n for n in EDGE_NUMBERS if n >= low])
    if kind == "number":
        low, high = schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum")
        exclude = "exclusiveMinimum" in schema
        return st.floats(low, high, exclude_min=exclude, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        size = min(schema.get("maxItems", 3), 3)
        return st.lists(
            values(spec, schema.get("items", {}), junk),
            min_size=schema.get("minItems", 0),
            max_size=max(size, schema.get("minItems", 0)),
        )
    if kind == "object" or "properties" in schema:
        return _objects(spec, schema, junk)
    return JUNK


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "uuid":
        return st.uuids().map(str)
    if schema.get("format") == "date-time":
        return st.datetimes(timezones=st.just(None) | st.timezones()).map(datetime.isoformat)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    low, high = schema.get("minLength", 0), schema.get("maxLength", 50)
    edges = st.sampled_from([text for text in EDGE_TEXT if low <= len(text) <= high])
    return st.text(min_size=low, max_size=min(high, max(low, 50))) | edges


def _objects(spec: Spec, schema: dict[str, Any], junk: bool) -> st.SearchStrategy[Any]:
    fields = {name: values(spec, s, junk) for name, s in schema.get("properties", {}).items()}
    needed = set(schema.get("required", []))
    required = {name: strategy for name, strategy in fields.items() if name in needed}
    optional = {name: strategy for name, strategy in fields.items() if name not in needed}
    if junk:  # an unknown field, sometimes
        optional["unexpected_field"] = JUNK
    return st.fixed_dictionaries(required, optional=optional)


def violations(spec: Spec, schema: Any, value: Any, where: str = "$") -> list[str]:
    """How ``value`` breaks ``schema`` (type, required, properties, items, anyOf, formats)."""
    schema = deref(spec, schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        if any(not violations(spec, option, value, where) for option in options):
            return []
        return [f"{where}: {value!r:.80} matches none of {len(options)} alternatives"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r:.80} not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is None:
        return []
    if not _is(kind, value):
        return [f"{where}: {value!r:.80} is not {kind}"]
    if kind == "string":
        return _format(schema.get("format"), value, where)
    if kind == "array":
        return [
            v
            for i, item in enumerate(value)
            for v in violations(spec, schema.get("items", {}), item, f"{where}[{i}]")
        ]
    if kind == "object":
        return _object(spec, schema, value, where)
    return []


def _is(kind: str, value: Any) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    return bool(checks[kind](value))


FORMATS: dict[str, Callable[[str], object]] = {
    "uuid": UUID,
    "date-time": datetime.fromisoformat,
    "date": date.fromisoformat,
}


def _format(kind: str | None, value: str, where: str) -> list[str]:
    parse = FORMATS.get(kind or "")
    try:
        if parse is not None:
            parse(value)
    except ValueError:
        return [f"{where}: {value!r:.80} is not a {kind}"]
    return []


def _object(spec: Spec, schema: dict[str, Any], value: dict[str, Any], where: str) -> list[str]:
    found = [f"{where}.{name}: missing" for name in schema.get("required", []) if name not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            found += violations(spec, properties[name], item, f"{where}.{name}")
        elif extra is False:
            found.append(f"{where}.{name}: not in the schema")
        elif isinstance(extra, dict):
            found += violations(spec, extra, item, f"{where}.{name}")
    return found


def send(client: httpx.Client, request: dict[str, Any]) -> tuple[int, str, Any]:
    with client.stream(**request) as response:
        kind = response.headers.get("content-type", "")
        if response.is_redirect:  # a trailing slash: the same route, without it
            location = httpx.URL(response.headers["location"])
            return response.status_code, "redirect", location.host == client.base_url.host
        if kind.startswith("text/event-stream"):
            return response.status_code, kind, next(response.iter_lines(), "")
        raw = response.read()
    return response.status_code, kind, raw


def judge(spec: Spec, operation: dict[str, Any], status: int, kind: str, raw: Any) -> list[str]:
    """A success in a media type the operation documents (JSON valid against its schema); an
    error as problem+json; never a 5xx."""
    if status >= 500:
        return [f"a {status}: {raw!r:.300}"]
    if kind == "redirect":
        return [] if raw is True else ["a redirect off this server"]
    media = kind.split(";")[0].strip()
    documented = operation["responses"].get(str(status), {}).get("content", {})
    if status == 204:
        return [] if not raw else [f"a 204 with a body {raw!r:.100}"]
    if status < 300 and media != "application/json":
        return (
            [] if media in documented else [f"{media} is not documented (only {list(documented)})"]
        )
    try:
        body = httpx.Response(status, content=raw).json()
    except ValueError:
        return [f"not JSON ({kind}): {raw!r:.200}"]
    if status >= 400:
        problems = [] if media == "application/problem+json" else [f"{kind}, not problem+json"]
        if not isinstance(body, dict) or body.get("status") != status:
            return [*problems, f"status {status} but body {body!r:.200}"]
        return problems + [f"no {key}" for key in ("type", "title", "detail") if not body.get(key)]
    if "application/json" not in documented:
        return [f"{status} JSON is not a documented answer"]
    return violations(spec, documented["application/json"].get("schema", {}), body)


def describe(request: dict[str, Any]) -> str:
    body = request.get("json", request.get("content", ""))
    return f"{request['method']} {request['url']} {request['params']} body={body!r:.200}"
