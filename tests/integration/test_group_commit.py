"""The group-commit write path: shared transactions, own ids, own conflicts, no gaps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.group_commit import GroupCommitRecorder
from application.errors import ConcurrentChange, NotFound
from tests.integration.write_path import (
    Ledger,
    Tally,
    ledger,
)

BATCH = 50


@pytest.fixture
def app(postgres_url: str) -> Iterator[Ledger]:
    with ledger(postgres_url) as application:
        yield application


def group_recorder(app: Ledger) -> GroupCommitRecorder:
    assert isinstance(app.recorder, GroupCommitRecorder)
    return app.recorder


def test_concurrent_saves_share_transactions_and_each_gets_its_own_ids(app: Ledger) -> None:
    def save_three_events(n: int) -> tuple[UUID, list[int]]:
        tally = Tally(f"t{n}")
        tally.bump()
        tally.bump()
        return tally.id, [r.notification.id for r in app.save(tally)]

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(save_three_events, range(640)))

    ids = [i for _, saved in results for i in saved]
    assert len(ids) == len(set(ids)) == 3 * 640
    for tally_id, saved in results:
        stored = app.recorder.select_notifications(start=saved[0], limit=3)
        assert [n.id for n in stored] == saved  # a save's events are contiguous, in order
        assert {n.originator_id for n in stored} == {tally_id}
    stats = group_recorder(app).stats
    assert stats.saves == 640
    assert stats.batches < 640


def test_one_conflicting_save_among_fifty_in_a_batch_fails_alone_and_writes_nothing(
    app: Ledger, postgres_url: str
) -> None:
    contested = Tally("contested")
    app.commit(contested)
    winner, loser = app.load(Tally, contested.id), app.load(Tally, contested.id)
    winner.bump()
    app.commit(winner)
    loser.bump()
    # This one waits until fifty saves are queued, and writes them as one batch.
    knobs = {"GROUP_COMMIT_MAX_BATCH": str(BATCH), "GROUP_COMMIT_LINGER_MS": "10000"}
    with ledger(postgres_url, GROUP_COMMIT_IN_FLIGHT="1", **knobs) as app:
        bystander_of_loser = Tally("written only if the stale save wins")
        others = [Tally(f"other-{n}") for n in range(BATCH - 1)]
        batches_before = group_recorder(app).stats.batches
        start = threading.Barrier(BATCH)

        def save(aggregates: tuple[Tally, ...]) -> ConcurrentChange | int | None:
            start.wait()
            try:
                return app.commit(*aggregates)
            except ConcurrentChange as conflict:
                return conflict

        saves = [(loser, bystander_of_loser), *((other,) for other in others)]
        with ThreadPoolExecutor(max_workers=BATCH) as pool:
            outcomes = list(pool.map(save, saves))

        stats = group_recorder(app).stats
        assert (stats.batches - batches_before, stats.largest) == (1, BATCH)
        assert isinstance(outcomes[0], ConcurrentChange)
        assert all(isinstance(position, int) for position in outcomes[1:])
        assert all(app.load(Tally, other.id).label == other.label for other in others)
        assert app.load(Tally, contested.id).version == 2
        with pytest.raises(NotFound):
            app.load(Tally, bystander_of_loser.id)


def test_a_save_repeating_a_version_written_earlier_in_the_same_batch_conflicts(
    postgres_url: str,
) -> None:
    knobs = {"GROUP_COMMIT_MAX_BATCH": "2", "GROUP_COMMIT_LINGER_MS": "10000"}
    with ledger(postgres_url, GROUP_COMMIT_IN_FLIGHT="1", **knobs) as app:
        (started,) = Tally("twice").collect_events()
        twin = app.mapper.to_domain_event(app.mapper.to_stored_event(started))
        start = threading.Barrier(2)

        def save(event: Tally.Event) -> str:
            start.wait()
            try:
                app.save(event)
            except IntegrityError:
                return "conflict"
            return "saved"

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(save, [started, twin]))

    assert outcomes == ["conflict", "saved"]


def test_every_save_waits_for_its_own_commit_and_none_is_lost_when_the_app_closes(
    postgres_url: str,
) -> None:
    app = ledger(postgres_url)
    tallies = [Tally(f"t{n}") for n in range(200)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        positions = list(pool.map(app.commit, tallies))
    app.close()

    with ledger(postgres_url) as reopened:
        assert all(reopened.load(Tally, t.id).label == t.label for t in tallies)
        assert reopened.recorder.max_notification_id() == max(p for p in positions if p)


def test_replicas_starting_together_create_the_tables_and_functions_once(
    postgres_url: str,
) -> None:
    start = threading.Barrier(8)

    def start_replica(_: int) -> int | None:
        start.wait()
        with ledger(postgres_url) as replica:
            return replica.commit(Tally("first write"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        positions = list(pool.map(start_replica, range(8)))

    assert sorted(p for p in positions if p is not None) == list(range(1, 9))
