"""The group-commit write path: shared transactions, own ids, own conflicts, no gaps."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.system import ProcessApplication

from adapters.event_store import GROUP_COMMIT_FACTORY_TOPIC, postgres_env
from adapters.group_commit import GroupCommitProcessRecorder, GroupCommitRecorder
from application.errors import ConcurrentChange, NotFound
from tests.integration.write_path import (
    Ledger,
    Tally,
    ledger,
    recorder_topic,
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


def terminate_writers(postgres_url: str) -> int:
    """Ends every backend that has run the batch function: the writer's pooled connections."""
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query LIKE '%insert_batch%'"
        ).fetchall()
    return len(rows)


def test_saves_survive_the_writers_connection_being_terminated_and_are_stored_once(
    app: Ledger, postgres_url: str
) -> None:
    enough = threading.Event()
    terminated: list[int] = []
    results: list[tuple[UUID, list[int]]] = []

    def terminating() -> None:  # five times the writer's connections, while saves stream
        while len(terminated) < 5 and not enough.wait(0.1):
            if killed := terminate_writers(postgres_url):
                terminated.append(killed)
        enough.set()

    def saving(worker: int) -> None:
        for n in itertools.count():
            if enough.is_set() or n == 2_000:
                return
            tally = Tally(f"w{worker}-{n}")
            tally.bump()
            results.append((tally.id, [r.notification.id for r in app.save(tally)]))

    killer = threading.Thread(target=terminating)
    killer.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(saving, range(16)))  # none raises
    finally:
        enough.set()
        killer.join()

    assert len(terminated) == 5, "the writer's connection was terminated five times"
    stored = app.recorder.select_notifications(start=1, limit=10 * len(results) + 10)
    assert len(stored) == 2 * len(results), "every acknowledged save stored once"
    by_tally = dict(results)
    assert {n.originator_id for n in stored} == set(by_tally)
    for notification in stored:
        assert notification.id in by_tally[notification.originator_id]


class NamedProcessRecorder(GroupCommitProcessRecorder):
    """A process recorder chosen by PROCESS_RECORDER_TOPIC."""


class Follower(ProcessApplication[UUID]):
    name = "Follower"


def test_the_process_recorder_topic_is_honoured_as_the_library_honours_it(
    postgres_url: str,
) -> None:
    env = {
        **postgres_env(postgres_url),
        "PERSISTENCE_MODULE": GROUP_COMMIT_FACTORY_TOPIC,
        "CREATE_TABLE": "y",
        "PROCESS_RECORDER_TOPIC": recorder_topic(NamedProcessRecorder),
    }
    follower = Follower(env)
    try:
        assert type(follower.recorder) is NamedProcessRecorder
    finally:
        follower.close()
