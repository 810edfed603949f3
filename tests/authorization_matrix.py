"""The authorization matrix: who may call which route on whose resource (API.md), turned into
cells whose expected answer comes from the rules alone, run over HTTP, and judged.

A caller is one of nine principals: a user of each of the six roles, and for the roles that
own things (customer, restaurant, courier) another user of the same role (``…/other``) who is
no party to the resource. Expected: a role the route never admits → 403; an admitted role that
is no party → 404, exactly as for an id that does not exist (``…/ghost`` cells); no token →
401 with ``WWW-Authenticate: Bearer``; else the route's success status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from domain.values import Role
from tests.api_builders import Api, User

C, R, K = Role.CUSTOMER, Role.RESTAURANT, Role.COURIER
PRINCIPALS = (
    *("customer", "customer/other", "restaurant", "restaurant/other", "courier"),
    *("courier/other", "admin", "analyst", "auditor"),
)
PARTY_ROLES = frozenset({C, R, K})
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Rule:
    """``roles`` may call the route (admins always may). ``scope``: ``any`` (every caller of
    those roles), ``owner`` (the restaurant's owner), ``party`` (the order's customer,
    restaurant owner and assigned courier), ``me`` (the caller's own courier profile),
    ``mine`` (what the caller registered: anyone else's is a 404, as for none at all)."""

    method: str
    path: str
    roles: frozenset[Role]
    scope: str = "any"
    status: int = 200
    readers: frozenset[Role] = frozenset()  # roles that see every such resource
    admin_status: int | None = None  # admins with no courier profile of their own: 404
    fresh: bool = False  # creations: each caller is a new user (one profile per user)


@dataclass
class Target:
    """What a cell calls: path parameters, body, query, and who the ``courier`` principal is."""

    params: dict[str, str]
    courier: User
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    json: Any


@dataclass
class Cell:
    rule: Rule
    caller: str
    expected: int
    answer: Answer
    problems: list[str]


def role_of(label: str) -> Role:
    return Role(label.split("/")[0])


def expected_status(rule: Rule, label: str) -> int:
    role = role_of(label)
    if label.endswith("/ghost"):
        return 404
    if role is Role.ADMIN:
        return rule.admin_status or rule.status
    if role not in rule.roles:
        return 403
    is_party = role in PARTY_ROLES and not label.endswith("/other")
    if rule.scope in ("owner", "party") and role not in rule.readers and not is_party:
        return 404
    return rule.status


def send(api: Api, user: User | None, rule: Rule, target: Target) -> Answer:
    path = rule.path.format(**target.params)
    kwargs: dict[str, Any] = {"params": target.query}
    if target.body is not None:
        kwargs["json"] = target.body
    headers = dict(user.headers) if user else {}
    with api.client.stream(rule.method, path, headers=headers, **kwargs) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            body: Any = {"first": next(response.iter_lines())}  # an SSE stream: its first line
        elif response.headers.get("content-type", "").startswith("text/csv"):
            body = {"csv": response.read().decode().splitlines()[0]}
        else:
            raw = response.read()
            body = response.json() if raw else None
    return Answer(response.status_code, dict(response.headers), body)


def judge(rule: Rule, label: str, user: User | None, expected: int, answer: Answer) -> list[str]:
    """What is wrong with an answer (nothing: an empty list)."""
    problems = []
    if answer.status != expected:
        problems.append(f"expected {expected}, got {answer.status}: {answer.json}")
    if expected >= 400:
        if not answer.headers.get("content-type", "").startswith("application/problem+json"):
            problems.append(f"not problem+json: {answer.headers.get('content-type')}")
        elif (answer.json or {}).get("status") != answer.status:
            problems.append(f"body status differs from {answer.status}: {answer.json}")
    if expected == 401 and answer.headers.get("www-authenticate") != "Bearer":
        problems.append(f"WWW-Authenticate: {answer.headers.get('www-authenticate')!r}")
    if 200 <= answer.status < 300 and user is not None and isinstance(answer.json, dict):
        problems += foreign_items(user, answer.json.get("items"))
    return problems


def foreign_items(user: User, items: Any) -> list[str]:
    """A list a customer or courier gets must hold only their own orders."""
    if not isinstance(items, list) or user.role not in (C, K):
        return []
    field_name, own = ("customer_id", user.sub) if user.role is C else ("courier_id", None)
    if own is None:
        own = user.courier_id
    return [
        f"another's order in the list: {item.get('id')}"
        for item in items
        if isinstance(item, dict) and field_name in item and item[field_name] != own
    ]


def is_leak(cell: Cell) -> bool:
    """A success for a caller who may not have it, or another's data in a list."""
    succeeded = 200 <= cell.answer.status < 300
    return (succeeded and cell.expected >= 400) or any("another's" in p for p in cell.problems)


def existence_revealed(cells: list[Cell]) -> list[str]:
    """Party routes whose 404 for another user's resource differs from the 404 for an id
    that does not exist (ids aside): the difference tells that the resource exists."""
    found = {(cell.rule, cell.caller): cell for cell in cells}
    revealed = []
    for (rule, label), cell in found.items():
        ghost = found.get((rule, label.replace("/other", "/ghost")))
        if rule.scope != "party" or not label.endswith("/other") or ghost is None:
            continue
        if cell.answer.status == ghost.answer.status == 404:
            mine, none = _without_ids(cell.answer.json), _without_ids(ghost.answer.json)
            if mine != none:
                revealed.append(f"{rule.method} {rule.path} as {label}: {mine} vs {none}")
    return revealed


def _without_ids(body: Any) -> str:
    return UUID_TEXT.sub("<id>", str(body))


@dataclass
class Matrix:
    api: Api
    principals: dict[str, User]
    cells: list[Cell] = field(default_factory=list)

    def run(self, rule: Rule, targets: dict[str, Target], default: Target) -> None:
        """Every principal, a ghost per admitted role and anonymous callers against ``rule``:
        the refused ones first (against ``default``), then each admitted one against its own
        target (a command changes what it targets)."""
        labels = list(PRINCIPALS)
        if rule.scope in ("owner", "party", "mine"):
            labels += [f"{role}/ghost" for role in sorted(rule.roles | {Role.ADMIN})]
        ordered = sorted(labels, key=lambda label: expected_status(rule, label) < 300)
        for label in ("anonymous", "malformed", *ordered):
            self._cell(rule, label, targets.get(label, default))

    def _cell(self, rule: Rule, label: str, target: Target) -> None:
        user = self._user(rule, label, target)
        if label.endswith("/ghost"):
            first = rule.path.split("{")[1].split("}")[0]
            params = {**target.params, first: str(uuid4())}
            target = Target(params, target.courier, target.body, target.query)
        expected = 401 if label in ("anonymous", "malformed") else expected_status(rule, label)
        answer = send(self.api, user, rule, target)
        problems = judge(rule, label, user, expected, answer)
        self.cells.append(Cell(rule, label, expected, answer, problems))

    def _user(self, rule: Rule, label: str, target: Target) -> User | None:
        if label == "anonymous":
            return None
        if label == "malformed":
            return _malformed(self.principals["customer"])
        role = role_of(label)
        if rule.fresh or label.endswith("/ghost"):
            return self.api.user(role)
        return target.courier if label == "courier" else self.principals[label]


def _malformed(user: User) -> User:
    return User(user.sub, user.role, {"Authorization": "Bearer not-a-token"})
