"""What the group-commit path promises: no follower skips, no torn batch, the same records."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import ApplicationRecorder

from adapters.group_commit import GroupCommitRecorder
from tests.integration.write_path import (
    SlowCommitRecorder,
    Tally,
    UnlockedSlowCommitRecorder,
    ledger,
    recorder_topic,
)
from tests.postgres import fresh_schema

WRITER_THREADS = 16
SAVES_PER_WRITER = 25
KILLS = 10
ROOT = Path(__file__).resolve().parents[2]


def follow(recorder: ApplicationRecorder, writers_done: threading.Event) -> set[int]:
    """Tails the notification log as a projector would: always from just after the last id."""
    seen: set[int] = set()
    last = 0
    while True:
        finished = writers_done.is_set()
        page = recorder.select_notifications(start=last + 1, limit=100)
        seen.update(n.id for n in page)
        if page:
            last = page[-1].id
        elif finished:
            return seen


@pytest.mark.parametrize(
    ("recorder", "locked"),
    [(SlowCommitRecorder, True), (UnlockedSlowCommitRecorder, False)],
    ids=["with-the-lock", "without-the-lock"],
)
def test_a_follower_tailing_the_log_sees_every_committed_event_only_with_the_lock(
    postgres_url: str, recorder: type[GroupCommitRecorder], locked: bool
) -> None:
    knobs = {"APPLICATION_RECORDER_TOPIC": recorder_topic(recorder), "GROUP_COMMIT_IN_FLIGHT": "4"}
    writers = [ledger(postgres_url, **knobs) for _ in range(2)]  # two processes' worth
    writers_done = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as follower:
        seen = follower.submit(follow, writers[0].recorder, writers_done)

        def write(n: int) -> list[int]:
            app = writers[n % len(writers)]
            return [app.save(Tally(f"w{n}"))[0].notification.id for _ in range(SAVES_PER_WRITER)]

        with ThreadPoolExecutor(max_workers=WRITER_THREADS) as pool:
            committed = {i for ids in pool.map(write, range(WRITER_THREADS)) for i in ids}
        writers_done.set()
        skipped = committed - seen.result()
    for app in writers:
        app.close()

    assert len(committed) == WRITER_THREADS * SAVES_PER_WRITER
    print(f"\n{recorder.__name__}: {len(committed)} committed, {len(skipped)} skipped")
    if locked:
        assert skipped == set()
    else:
        assert skipped, "without the lock the follower should have passed over a gap"


def stored_versions(schema_url: str) -> dict[UUID, int]:
    with psycopg.connect(schema_url) as conn:
        rows = conn.execute(
            "SELECT originator_id, count(*) FROM ledger_events GROUP BY originator_id"
        ).fetchall()
    return {row[0]: row[1] for row in rows}


def test_killing_the_writer_mid_batch_never_leaves_part_of_a_save_and_loses_no_ack(
    postgres_url: str,
) -> None:
    ledger(postgres_url).close()  # create the table before the first child starts
    acknowledged: set[UUID] = set()
    rng = random.Random(20261123)
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crash_writer", postgres_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None
        wanted = rng.randint(20, 400)
        for _ in range(wanted):
            acknowledged.add(UUID(child.stdout.readline().strip()))
        child.send_signal(signal.SIGKILL)
        acknowledged.update(UUID(line.strip()) for line in child.stdout if line.strip())
        child.wait(timeout=30)

    versions = stored_versions(postgres_url)
    torn = {tally: count for tally, count in versions.items() if count != 3}
    assert torn == {}
    assert acknowledged <= versions.keys()
    print(f"\n{KILLS} kills: {len(versions)} saves stored, {len(acknowledged)} acknowledged")


def test_the_group_commit_path_records_what_the_library_path_records(
    database_url: str, postgres_url: str
) -> None:
    saves = []
    for n in range(30):
        tally = Tally(f"same-{n}")
        for _ in range(n % 4):
            tally.bump()
        saves.append(tally.collect_events())

    with fresh_schema(database_url) as other_schema_url:
        grouped = ledger(postgres_url)
        library = ledger(other_schema_url, module="eventsourcing.postgres")
        for events in saves:
            grouped.save(*events)
            library.save(*events)
        assert isinstance(grouped.recorder, GroupCommitRecorder)
        assert not isinstance(library.recorder, GroupCommitRecorder)
        records = [
            [
                (n.id, n.originator_id, n.originator_version, n.topic, n.state)
                for n in app.recorder.select_notifications(start=1, limit=1000)
            ]
            for app in (grouped, library)
        ]
        grouped.close()
        library.close()

    assert len(records[0]) == sum(len(events) for events in saves)
    assert records[0] == records[1]
