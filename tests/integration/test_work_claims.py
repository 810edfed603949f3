"""Two processes dispatching one queue never take the same item: a claim leases what it takes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sql import open_database
from adapters.work_store import SqlWorkStore
from application.work import Schedule

ITEMS = 300
NOW = 1_000.0
LEASE_UNTIL = NOW + 60


@pytest.fixture(params=["sqlite", "postgres"])
def two_dispatchers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[SqlWorkStore]]:
    """One work table, seen through the connections of two worker processes."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    stores = [SqlWorkStore(open_database(url, tmp_path / "work.sqlite3")) for _ in range(2)]
    yield stores
    for store in stores:
        store.close()


def test_concurrent_claims_take_every_due_item_once(two_dispatchers: list[SqlWorkStore]) -> None:
    first, second = two_dispatchers
    with first.database.transaction() as run:
        changes = [Schedule(f"collect:{n}", NOW - n, {"n": n}) for n in range(ITEMS)]
        first.record(run, "outbox", changes)
    taken: dict[str, list[str]] = {"first": [], "second": []}
    start = threading.Barrier(2)

    def dispatch(name: str, store: SqlWorkStore) -> None:
        start.wait()
        while claimed := store.claim("outbox", NOW, 7, LEASE_UNTIL):
            taken[name].extend(item.key for item in claimed)

    threads = [
        threading.Thread(target=dispatch, args=pair)
        for pair in zip(taken, two_dispatchers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    everything = taken["first"] + taken["second"]
    assert sorted(everything) == sorted(f"collect:{n}" for n in range(ITEMS))  # each once
    assert first.claim("outbox", NOW, 7, LEASE_UNTIL) == [], "leased items are not due"
    assert len(second.claim("outbox", LEASE_UNTIL, ITEMS, LEASE_UNTIL + 60)) == ITEMS, (
        "an item whose run was cut short is due again when its lease ends"
    )
