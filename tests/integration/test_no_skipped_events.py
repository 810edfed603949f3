"""No skipped events: writers hold their transactions open a while before committing (and some
roll back) while a projector tails the log; afterwards it has applied exactly the committed
events, each once.

The writers save through the recorder the platform uses (group commit on PostgreSQL, the
eventsourcing recorder on SQLite), subclassed to wait between insert and commit and to roll
back a share of the transactions. A transaction waiting to commit holds notification ids below
ones already visible, and a rolled-back one leaves ids nobody will ever commit: a projector that
read past either would skip events, or apply ones that were never committed.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from adapters.event_keys import event_keys
from adapters.event_store import event_store_env
from adapters.sql import create_tables, open_database
from application.restaurants import Restaurants
from application.settings import Settings
from domain.restaurant import Restaurant
from domain.values import Location, Money, Role
from projections.projector import Projection, Projector
from projections.sql_views import TRACKING_TABLES, SqlViews
from projections.views import Run
from tests.integration.write_path import (
    RolledBack,
    SometimesRolledBackRecorder,
    SometimesRolledBackSqliteRecorder,
    recorder_topic,
)
from tests.scenario import cause

WRITERS = 8
SAVES_PER_WRITER = 40
APPLIED = "test_applied_events"
PROJECTED = ("Restaurant.Registered", "Restaurant.MenuItemAdded")  # not Restaurant.WentOnline
Key = tuple[str, int, str]  # aggregate, version, event


def recording_every_event() -> Projection:
    """Records each event it applies, in a table without a key: an event applied twice shows."""

    def record(run: Run, event: Any) -> None:
        run(
            f"INSERT INTO {APPLIED} (originator_id, originator_version, event) VALUES (?, ?, ?)",
            (str(event.originator_id), event.originator_version, type(event).__qualname__),
        )

    return Projection(
        name=APPLIED,
        tables=(
            f"CREATE TABLE IF NOT EXISTS {APPLIED} (originator_id TEXT NOT NULL,"
            " originator_version BIGINT NOT NULL, event TEXT NOT NULL)",
        ),
        appliers=dict.fromkeys(PROJECTED, record),
    )


def restaurants(settings: Settings) -> Restaurants:
    """The Restaurants application on the platform's event store, through a recorder that
    holds its transactions open and rolls some back."""
    env = event_store_env(settings, Restaurants.name, event_keys(settings))
    if settings.database_url is None:
        env["APPLICATION_RECORDER_TOPIC"] = recorder_topic(SometimesRolledBackSqliteRecorder)
    else:
        env["APPLICATION_RECORDER_TOPIC"] = recorder_topic(SometimesRolledBackRecorder)
        env["GROUP_COMMIT_IN_FLIGHT"] = "4"  # batches that wait on one another's commits
    return Restaurants(env)


def new_restaurant(rng: random.Random, label: str) -> Restaurant:
    """A restaurant registered with a few menu items, perhaps brought online: one save."""
    owner = cause(Role.RESTAURANT)
    restaurant = Restaurant.register(
        owner_id=owner.actor_id,
        name=f"Kitchen {label}",
        cuisine="south indian",
        address="32 Gandhi Bazaar",
        location=Location(12.9452, 77.5713),
        opening_hours="",
        cause=owner,
    )
    for item in range(rng.randint(0, 3)):
        restaurant.add_menu_item(name=f"Dish {item}", price=Money.parse("99.00"), cause=owner)
    if rng.random() < 0.3:
        restaurant.go_online(owner)
    return restaurant


def key(event: Any) -> Key:
    return (str(event.originator_id), event.originator_version, type(event).__qualname__)


def stored(app: Restaurants) -> set[Key]:
    """Every event in the log (its notifications, decoded)."""
    keys: set[Key] = set()
    start = 1
    while page := app.recorder.select_notifications(start=start, limit=1000):
        keys.update(key(app.mapper.to_domain_event(n)) for n in page)
        start = page[-1].id + 1
    return keys


def test_the_projector_applies_exactly_the_committed_events_while_commits_are_delayed(
    settings: Settings,
) -> None:
    projection = recording_every_event()
    views = open_database(settings.database_url, settings.data_dir / "views.sqlite3")
    create_tables(views, [*TRACKING_TABLES, *projection.tables], "test-views-ddl")
    writers = [restaurants(settings) for _ in range(2)]  # two processes' worth
    reader = restaurants(settings)
    projector = Projector(projection, [reader], SqlViews(views, projection))
    writers_done = threading.Event()

    def write(number: int) -> tuple[set[Key], set[Key]]:
        app, rng = writers[number % len(writers)], random.Random(number)
        committed: set[Key] = set()
        rolled_back: set[Key] = set()
        for save in range(SAVES_PER_WRITER):
            events = new_restaurant(rng, f"{number}-{save}").collect_events()
            try:
                app.save(*events)
            except RolledBack:
                rolled_back.update(key(event) for event in events)
            else:
                committed.update(key(event) for event in events)
        return committed, rolled_back

    def tail() -> tuple[int, int]:
        """Runs the projector until a pass that began after the writers finished; returns how
        many events it applied while they wrote, and how many after."""
        while_writing = 0
        while True:
            finished = writers_done.is_set()
            applied = projector.run_once()
            if finished:
                return while_writing, applied
            while_writing += applied

    try:
        with ThreadPoolExecutor(max_workers=1) as follower:
            tailing = follower.submit(tail)
            with ThreadPoolExecutor(max_workers=WRITERS) as pool:
                results = list(pool.map(write, range(WRITERS)))
            writers_done.set()
            applied_while_writing, applied_after = tailing.result()
        with views.transaction() as run:
            rows = run(f"SELECT originator_id, originator_version, event FROM {APPLIED}", ())
            applied = Counter((str(i), int(v), str(e)) for i, v, e in rows.fetchall())
        in_log = stored(reader)
    finally:
        for app in (*writers, reader):
            app.close()
        views.close()

    committed = {k for done, _ in results for k in done}
    rolled_back = {k for _, undone in results for k in undone}
    print(
        f"\n{len(committed)} events committed, {len(rolled_back)} rolled back; the projector "
        f"applied {applied_while_writing} while they were written, {applied_after} after"
    )
    assert rolled_back, "some transactions were rolled back"
    assert in_log == committed, "the log holds exactly what the writers were told is committed"
    assert applied_while_writing > 0, "the projector tailed the log while the writers wrote"
    assert [event for event, times in applied.items() if times > 1] == []
    assert set(applied) == {k for k in committed if k[2] in PROJECTED}
    assert set(applied).isdisjoint(rolled_back)
