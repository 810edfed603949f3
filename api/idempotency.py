"""``Idempotency-Key`` for create commands: the same key from the same user with the same body
returns the original response; with a different body, 422.

Orders need none of this: an order placed with a key gets an id derived from (customer, key),
so a retry collides in the event store (see ``Ordering.place_order``). The other creations
(restaurants, menu items, couriers) keep their first response here, in the views database:
a request claims its key before running, so a concurrent retry gets 409 (try again) instead of
creating a second thing, and a request that fails gives its claim back. A claim whose process
died while running it (a replica SIGKILLed) is taken over by the next retry once it is older
than ``claim_seconds`` (TIFFIN_IDEMPOTENCY_CLAIM_SECONDS, longer than any request runs).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.problems import ApiProblem
from projections.personal import IN_PLAIN, Personal
from projections.views import SqlDatabase

TABLE = "tiffin_api_idempotency"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (subject TEXT NOT NULL, route TEXT NOT NULL,"
    " idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER,"
    " body TEXT, claimed_at DOUBLE PRECISION, PRIMARY KEY (subject, route, idempotency_key))"
)
CLAIMED_AT = "claimed_at"  # added by schema version 2 (wiring.migrate)
MAX_KEY_LENGTH = 255


class Sealer(Protocol):
    """Keeps stored answers unreadable at rest (they hold addresses, phone numbers, VPAs)."""

    def seal(self, text: str) -> str: ...

    def unseal(self, stored: str) -> str:
        """The text ``seal`` was given; text stored before sealing began comes back as it is."""
        ...


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def checked_key(key: str | None) -> str | None:
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ApiProblem(422, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return key


class IdempotencyStore:
    def __init__(
        self,
        database: SqlDatabase,
        sealer: Sealer | None = None,
        personal: Personal = IN_PLAIN,
        claim_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.sealer = sealer or IN_PLAIN  # no key: answers are stored as they are
        self.personal = personal  # keys are kept under the caller's pseudonym
        self.claim_seconds = claim_seconds
        self.clock = clock

    def run_once(
        self,
        who: tuple[str, str, str],
        request: Any,
        create: Callable[[], tuple[int, dict[str, Any]]],
    ) -> Replay:
        """Runs ``create`` once per (subject, route, key); a repeat gets the first answer."""
        person, route, key = who
        subject = self.personal.pseudonym(person)
        mark = fingerprint(request)
        now = self.clock()
        with self.database.transaction() as run:
            claimed = run(
                f"INSERT INTO {TABLE} (subject, route, idempotency_key, fingerprint, claimed_at)"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (subject, route, key, mark, now),
            ).rowcount
            if not claimed:  # a claim left by a process that died running it is taken over
                claimed = run(
                    f"UPDATE {TABLE} SET claimed_at = ? WHERE subject = ? AND route = ?"  # noqa: S608
                    " AND idempotency_key = ? AND fingerprint = ? AND status IS NULL"
                    " AND (claimed_at IS NULL OR claimed_at < ?)",
                    (now, subject, route, key, mark, now - self.claim_seconds),
                ).rowcount
            if not claimed:
                row = run(
                    f"SELECT fingerprint, status, body FROM {TABLE}"  # noqa: S608
                    " WHERE subject = ? AND route = ? AND idempotency_key = ?",
                    (subject, route, key),
                ).fetchone()
        if not claimed:
            return _replay(row, mark, self.sealer)
        try:
            status, created = create()
        except BaseException:
            self._release(who)
            raise
        body = jsonable_encoder(created)
        with self.database.transaction() as run:
            run(
                f"UPDATE {TABLE} SET status = ?, body = ?"  # noqa: S608
                " WHERE subject = ? AND route = ? AND idempotency_key = ?",
                (status, self.sealer.seal(json.dumps(body)), subject, route, key),
            )
        return Replay(status, body)

    def _release(self, who: tuple[str, str, str]) -> None:
        with self.database.transaction() as run:
            run(
                f"DELETE FROM {TABLE}"  # noqa: S608
                " WHERE subject = ? AND route = ? AND idempotency_key = ? AND status IS NULL",
                who,
            )


def _replay(row: Any, mark: str, sealer: Sealer) -> Replay:
    stored_mark, status, body = row
    if stored_mark != mark:
        raise ApiProblem(422, "this Idempotency-Key was used with a different request body")
    if status is None:
        raise ApiProblem(
            409,
            "a request with this Idempotency-Key is still running",
            headers={"Retry-After": "1"},
        )
    return Replay(int(status), json.loads(sealer.unseal(body)))


def create_once(
    store: IdempotencyStore,
    who: tuple[str, str, str | None],
    request: Any,
    create: Callable[[], tuple[int, dict[str, Any]]],
) -> Any:
    """A create route's answer: ``create``'s, or with an Idempotency-Key, the first answer to
    that key (``who`` is (subject, route, key or None))."""
    subject, route, key = who
    if checked_key(key) is None or key is None:
        return create()[1]
    replay = store.run_once((subject, route, key), request, create)
    return JSONResponse(replay.body, status_code=replay.status)


class RunOnce:
    """A command request's run-once: with an Idempotency-Key, the first answer to (user,
    method and path, key) is kept, and a repeat with the same body gets it."""

    def __init__(self, store: IdempotencyStore, method: str, path: str, key: str | None) -> None:
        self.store = store
        self.route = f"{method} {path}"
        self.key = key

    def __call__(
        self,
        subject: str,
        body: Any,
        run: Callable[[], tuple[int, dict[str, Any]]],
        route: str | None = None,
    ) -> Any:
        """``run``'s answer, or the first answer to this key; ``body`` is the request's JSON
        (what a repeat must match), ``route`` names the request if not its method and path."""
        return create_once(self.store, (subject, route or self.route, self.key), body, run)
