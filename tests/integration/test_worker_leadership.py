"""Each worker component runs in one process at a time; another waits as a hot standby."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.leadership import FileLeadership, PostgresLeadership
from adapters.sql import open_database
from adapters.worker_health import SqlHealthBoard
from application.runtime import Leadership, Runtime
from tests.polling import poll_until
from tests.scenario import ManualClock


@pytest.fixture(params=["file", "postgres"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Leadership]]:
    """The leadership of two worker processes sharing one deployment."""
    leaderships: list[Leadership]
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        leaderships = [PostgresLeadership(url), PostgresLeadership(url)]
    else:
        leaderships = [FileLeadership(tmp_path / "locks"), FileLeadership(tmp_path / "locks")]
    yield leaderships
    for leadership in leaderships:
        leadership.release()


def test_a_second_worker_stands_by_until_the_owner_goes_away(
    two_workers: list[Leadership],
) -> None:
    owner, standby = two_workers

    assert owner.holds("payments")
    assert owner.holds("payments"), "the owner keeps it"
    assert not standby.holds("payments")
    assert standby.holds("outbox"), "components are owned one by one"
    assert not owner.holds("outbox")

    owner.release()  # the owner stops or dies: its locks go with it

    assert standby.holds("payments")
    assert not owner.holds("payments")


def lock_backend(leadership: PostgresLeadership) -> int:
    """The PostgreSQL backend holding the leadership's locks."""
    connection = leadership._connection
    assert connection is not None
    return int(connection.info.backend_pid)


def terminate(url: str, backend: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))


def test_an_owner_whose_lock_connection_dies_stops_claiming_within_two_seconds(
    postgres_url: str,
) -> None:
    owner, standby = PostgresLeadership(postgres_url), PostgresLeadership(postgres_url)
    try:
        assert owner.holds("outbox")
        assert not standby.holds("outbox")

        terminate(postgres_url, lock_backend(owner))  # PostgreSQL releases its locks
        poll_until(
            lambda seen: True if standby.holds("outbox") else None,
            within=2.0,
            what="the standby taking the released lock",
        )
        poll_until(
            lambda seen: True if not owner.holds("outbox") else None,
            within=2.0,
            what="the old owner noticing it no longer holds the lock",
        )

        assert standby.holds("outbox")
        assert not owner.holds("outbox"), "the old owner stands by now"
    finally:
        owner.release()
        standby.release()


def test_a_runtime_whose_lock_connection_dies_hands_over_and_says_so(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[str] = []
    first = Runtime([Counting("outbox", done, "first")], PostgresLeadership(postgres_url))
    second = Runtime([Counting("outbox", done, "second")], PostgresLeadership(postgres_url))
    try:
        with caplog.at_level(logging.INFO, logger="application.runtime"):
            first.run_once()
            second.run_once()
            assert isinstance(first.leadership, PostgresLeadership)
            terminate(postgres_url, lock_backend(first.leadership))
            poll_until(
                lambda seen: True if (second.run_once(), done[-1] == "second")[1] else None,
                within=2.0,
                what="the standby running the component",
            )
            poll_until(
                lambda seen: True if (first.run_once(), "handed over" in caplog.text)[1] else None,
                within=2.0,
                what="the old owner handing the component over",
            )
            runs_before = len(done)
            first.run_once()
    finally:
        first.leadership.release()
        second.leadership.release()

    assert done[runs_before:] == [], "the old owner no longer runs it"
    assert "took over outbox" in caplog.text
    assert "handed over outbox" in caplog.text
    assert "lost the locks of outbox" in caplog.text


class Counting:
    """A component recording which worker ran it."""

    def __init__(self, name: str, done: list[str], worker: str) -> None:
        self.name, self.done, self.worker = name, done, worker

    def run_once(self) -> int:
        self.done.append(self.worker)
        return 0


class FailingWhile:
    """A component whose dependency is down while ``down`` is set."""

    def __init__(self, name: str, down: threading.Event, runs: list[str], worker: str) -> None:
        self.name, self.down, self.runs, self.worker = name, down, runs, worker

    def run_once(self) -> int:
        if self.down.is_set():
            raise ConnectionError("Redis is not answering")
        self.runs.append(self.worker)
        return 0


def test_a_component_failing_too_long_is_let_go_to_a_healthy_standby(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    sick, runs = threading.Event(), list[str]()
    board = SqlHealthBoard(open_database(None, tmp_path / "work.sqlite3"))
    owner = Runtime(
        [FailingWhile("deliveries", sick, runs, "owner")],
        PostgresLeadership(postgres_url),
        give_up_seconds=30,
        board=board,
        clock=clock,
    )
    standby = Runtime(
        [FailingWhile("deliveries", threading.Event(), runs, "standby")],
        PostgresLeadership(postgres_url),
        give_up_seconds=30,
        clock=clock,
    )
    try:
        owner.run_once()
        standby.run_once()
        assert runs == ["owner"], "the standby waits"
        sick.set()  # the owner's Redis goes away
        with caplog.at_level(logging.WARNING, logger="application.runtime"):
            owner.run_once()
            clock.advance(29)
            owner.run_once()
            standby.run_once()
            assert runs == ["owner"], "a short outage is ridden out"
            assert owner.health["deliveries"].state(clock()) == "failing"
            clock.advance(2)
            owner.run_once()  # failing for 31 s: let go
            standby.run_once()
            owner.run_once()
        assert runs == ["owner", "standby"], "the healthy standby runs it now"
        assert owner.health["deliveries"].state(clock()) == "resting"
        assert "letting go of deliveries after failing for 31 s" in caplog.text
        [row] = board.rows()
        assert (row.component, row.state) == ("deliveries", "resting")
        assert "Redis is not answering" in row.last_error
    finally:
        owner.leadership.release()
        standby.leadership.release()
