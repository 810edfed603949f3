"""Wiring the saga's workers (part of the composition root, beside ``bootstrap``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapters.leadership import FileLeadership, PostgresLeadership
from adapters.sql import create_tables, open_database
from adapters.work_store import SqlWorkStore
from application import deadlines, outbox
from application.deadlines import DeadlineFiring, DeadlineTimes, deadline_changes
from application.outbox import OUTBOX_CHANGES, GatewayCalls
from application.runtime import SAGA, Component, Leadership, Runtime, SagaStep
from application.settings import Settings
from application.work import WorkQueue, WorkStore

if TYPE_CHECKING:
    from application.bootstrap import Tiffin

from projections.order_summary import ORDER_SUMMARY
from projections.projector import TRACKING_TABLES, Projection, Projector
from projections.views import SqlDatabase

COMPONENTS = ("ordering", "payments", "deliveries", "deadlines", "outbox", "order_summary")
PROJECTIONS: dict[str, Projection] = {ORDER_SUMMARY.name: ORDER_SUMMARY}
ClosableWorkStore = SqlWorkStore


def open_work_store(settings: Settings) -> ClosableWorkStore:
    return SqlWorkStore(open_database(settings.database_url, settings.data_dir / "work.sqlite3"))


def open_views(settings: Settings) -> SqlDatabase:
    database = open_database(settings.database_url, settings.data_dir / "views.sqlite3")
    tables = [*TRACKING_TABLES, *(t for p in PROJECTIONS.values() for t in p.tables)]
    create_tables(database, tables, "tiffin-views-ddl")
    return database


def projector(tiffin: Tiffin, views: SqlDatabase, name: str) -> Projector:
    apps = (tiffin.ordering, tiffin.payments, tiffin.deliveries)
    return Projector(PROJECTIONS[name], apps, views)


def leadership_for(settings: Settings) -> Leadership:
    if settings.database_url is not None:
        return PostgresLeadership(settings.database_url)
    return FileLeadership(settings.data_dir / "locks")


def build_runtime(
    tiffin: Tiffin, store: WorkStore, views: SqlDatabase, only: Sequence[str] = COMPONENTS
) -> Runtime:
    """The named components (all by default), woken by every save of this process."""
    unknown = sorted(set(only) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"no worker component {unknown}; there are {list(COMPONENTS)}")
    components = [
        projector(tiffin, views, name) if name in PROJECTIONS else _component(tiffin, store, name)
        for name in COMPONENTS
        if name in only
    ]
    settings = tiffin.settings
    runtime = Runtime(components, leadership_for(settings), settings.worker_poll_seconds)
    for app in (tiffin.ordering, tiffin.payments, tiffin.deliveries):
        app.lead(runtime)
    return runtime


def _component(tiffin: Tiffin, store: WorkStore, name: str) -> Component:
    settings = tiffin.settings
    processes = {app.name: app for app in (tiffin.ordering, tiffin.payments, tiffin.deliveries)}
    queue: dict[str, Any] = {
        "store": store,
        "clock": tiffin.clock,
        "max_attempts": settings.outbox_max_attempts,
    }
    if name == deadlines.QUEUE:
        times = DeadlineTimes(
            settings.payment_expiry_seconds,
            settings.acceptance_timeout_seconds,
            settings.assignment_retry_seconds,
        )
        fire = DeadlineFiring(tiffin.ordering, tiffin.payments, tiffin.deliveries, times)
        return WorkQueue(name, list(processes.values()), deadline_changes(times), fire, **queue)
    if name == outbox.QUEUE:
        calls = GatewayCalls(tiffin.payments, tiffin.gateway)
        return WorkQueue(name, [tiffin.payments], OUTBOX_CHANGES, calls, **queue)
    app = next(app for app in processes.values() if app.name.lower() == name)
    return SagaStep(app, [processes[leader] for leader in SAGA.follows[app.name]])
