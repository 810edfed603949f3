"""Rebuild rate: a projection applied from position 0 into empty views, against merely reading
(and decoding) the same notifications."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import psycopg
from eventsourcing.application import Application
from psycopg import sql

from application.settings import Settings
from projections.projector import READ_LIMIT
from projections.rebuild import rebuild as rebuild_view
from projections.views import SqlDatabase
from wiring.bootstrap import Tiffin
from wiring.workers import live_view, open_views, projector

# The bulk phase of a rebuild: given the platform, empty views and a projection's name, applies
# every event of the projection from position 0 and returns how many it applied.
Rebuild = Callable[[Tiffin, SqlDatabase, str], int]


@dataclass(frozen=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuilt(tiffin: Tiffin, views: SqlDatabase, name: str) -> int:
    """What ``tiffin projections rebuild`` does: every event from position 0 into a shadow of
    the view, then the switch to it; the events applied before the switch."""
    live = projector(tiffin, views, name)
    view = live_view(tiffin, views, name)
    return rebuild_view(live.projection, live.leaders, view, personal=live.personal).events


@contextmanager
def empty_views(settings: Settings) -> Iterator[SqlDatabase]:
    """The views database as ``open_views`` makes it (every projection's tables, empty), in a
    new schema of the settings' database; the schema is dropped afterwards."""
    database_url = settings.database_url
    assert database_url is not None, "the bench runs in server mode"
    schema = f"bench_views_{uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in database_url else "?"
    in_schema = f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    views = open_views(settings.model_copy(update={"database_url": in_schema}))
    try:
        yield views
    finally:
        views.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def measure_rebuild(tiffin: Tiffin, name: str, rebuild: Rebuild = rebuilt) -> Rate:
    """Times ``rebuild`` of the named projection into empty views: events applied per second."""
    with empty_views(tiffin.settings) as views:
        began = time.perf_counter()
        events = rebuild(tiffin, views, name)
        return Rate(events, time.perf_counter() - began)


def measure_reading(
    leaders: Sequence[Application[Any]], topics: Sequence[str], decode: bool = True
) -> Rate:
    """The baseline: the notifications a projector of these topics reads from position 0, page
    by page as it reads them, each decoded into its domain event (``decode``), none applied."""
    events = 0
    began = time.perf_counter()
    for leader in leaders:
        position = 0
        while True:
            page = leader.recorder.select_notifications(
                start=position, limit=READ_LIMIT, topics=topics, inclusive_of_start=False
            )
            if not page:
                break
            if decode:
                to_domain_event = leader.mapper.to_domain_event
                for notification in page:
                    to_domain_event(notification)
            events += len(page)
            position = page[-1].id
    return Rate(events, time.perf_counter() - began)


def reading_of(tiffin: Tiffin, name: str) -> tuple[list[Any], list[str]]:
    """The logs and topics the named projection's projector reads."""
    with empty_views(tiffin.settings) as views:
        running = projector(tiffin, views, name)
        return list(running.leaders), list(running.topics)
