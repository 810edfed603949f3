"""A stored answer's claim: a retry while the first request runs gets 409 (try again); a
claim whose process died running it (a SIGKILLed replica) is taken over once it is older than
the claim time, so its key is never stuck."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.idempotency import TABLE, IdempotencyStore, fingerprint
from api.problems import ApiProblem
from application.settings import Settings
from wiring.bootstrap import bootstrap
from wiring.workers import views_database

WHO = ("owner-1", "POST /v1/restaurants", "key-1")
BODY = {"name": "Vidyarthi Bhavan"}
CLAIM_SECONDS = 30.0


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(settings: Settings) -> Iterator[tuple[IdempotencyStore, Clock]]:
    bootstrap(settings).close()  # it creates the tables
    database = views_database(settings)
    clock = Clock()
    try:
        yield IdempotencyStore(database, claim_seconds=CLAIM_SECONDS, clock=clock), clock
    finally:
        database.close()


def claim_left_by_a_dead_process(store: IdempotencyStore, claimed_at: float) -> None:
    subject, route, key = WHO
    with store.database.transaction() as run:
        run(
            f"INSERT INTO {TABLE} (subject, route, idempotency_key, fingerprint, claimed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (store.personal.pseudonym(subject), route, key, fingerprint(BODY), claimed_at),
        )


def created() -> tuple[int, dict[str, Any]]:
    return 201, {"id": "r-1"}


def test_a_claim_still_running_gets_a_try_again(store: tuple[IdempotencyStore, Clock]) -> None:
    idempotency, clock = store
    claim_left_by_a_dead_process(idempotency, clock.now - CLAIM_SECONDS + 1)

    with pytest.raises(ApiProblem) as running:
        idempotency.run_once(WHO, BODY, created)

    assert running.value.status == 409
    assert "still running" in str(running.value)


def test_a_claim_older_than_the_claim_time_is_taken_over_and_answered_once(
    store: tuple[IdempotencyStore, Clock],
) -> None:
    idempotency, clock = store
    claim_left_by_a_dead_process(idempotency, clock.now - CLAIM_SECONDS - 1)
    runs: list[int] = []

    def create() -> tuple[int, dict[str, Any]]:
        runs.append(1)
        return created()

    first = idempotency.run_once(WHO, BODY, create)
    again = idempotency.run_once(WHO, BODY, create)

    assert (first.status, first.body) == (201, {"id": "r-1"})
    assert (again.status, again.body) == (201, {"id": "r-1"})
    assert runs == [1], "taken over once, then answered from the store"
