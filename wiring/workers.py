"""Wiring the saga's workers (part of the composition root, beside ``bootstrap``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application

from adapters.kafka_locations import NAME as LOCATIONS_NAME
from adapters.kafka_relay import NAME as RELAY_NAME
from adapters.kafka_relay import RelayWriter, relay_projection
from adapters.leadership import FileLeadership, PostgresLeadership
from adapters.simulated_gateway import QUEUE as SIMULATED_WEBHOOKS
from adapters.simulated_gateway import SimulatedWebhooks
from adapters.sql import PostgresDatabase, SqliteDatabase, create_tables, open_database
from adapters.wake_up import PostgresWakeUp, WakeUps
from adapters.work_store import SqlWorkStore
from application import deadlines, outbox, push, reconciliation
from application.backoff import BackingOff
from application.deadlines import DeadlineFiring, DeadlineTimes, deadline_changes
from application.outbox import OUTBOX_CHANGES, GatewayCalls
from application.push import PUSH_CHANGES, PushNotifications
from application.reconciliation import Reconciliation, reconcile_changes
from application.runtime import (
    SAGA,
    Component,
    Following,
    Leadership,
    LogHeads,
    Runtime,
    SagaStep,
)
from application.settings import Settings
from application.webhook_inbox import QUEUE as INBOX
from application.work import EventChanges, WorkQueue
from domain.topics import LOG_OF_AGGREGATE

if TYPE_CHECKING:
    from wiring.bootstrap import Tiffin

from projections.key_views import KeyViews
from projections.projector import Apply, Projection, Projector
from projections.rebuild import Rebuildable
from projections.registry import EVERY_VIEW, HOT_VIEWS, PROJECTIONS
from projections.sql_views import TRACKING_TABLES, SqlViews
from projections.views import SqlDatabase
from wiring.telemetry import active_tracing

KAFKA_RELAY: str = RELAY_NAME  # the worker component relaying integration events to Kafka
COURIER_LOCATIONS: str = LOCATIONS_NAME  # the one applying couriers' pings from Kafka
KAFKA_COMPONENTS = (KAFKA_RELAY, COURIER_LOCATIONS)  # only when Kafka is configured
PUSH: str = push.QUEUE  # push notifications through FCM, only when configured
SAGA_COMPONENTS = ("ordering", "payments", "deliveries", "deadlines", "outbox", "inbox")
GATEWAY_COMPONENTS = ("reconcile", SIMULATED_WEBHOOKS)
COMPONENTS = (*SAGA_COMPONENTS, *GATEWAY_COMPONENTS, *EVERY_VIEW, *KAFKA_COMPONENTS, PUSH)
WORK_QUEUES = ("deadlines", "outbox", "inbox", "reconcile", SIMULATED_WEBHOOKS, PUSH)
ClosableWorkStore = SqlWorkStore


def work_database(settings: Settings) -> SqliteDatabase | PostgresDatabase:
    """A connection to the work database: work items, worker health, devices, the schema's
    version (PostgreSQL in server mode, else ``work.sqlite3``)."""
    path = settings.data_dir / "work.sqlite3"
    return open_database(settings.database_url, path, create_tables=settings.create_tables)


def views_database(settings: Settings) -> SqliteDatabase | PostgresDatabase:
    """A connection to the views database (TIFFIN_VIEWS_DATABASE_URL, else the shared one, in
    server mode; else ``views.sqlite3``)."""
    path = settings.data_dir / "views.sqlite3"
    return open_database(settings.views_url, path, create_tables=settings.create_tables)


def views_replica(settings: Settings) -> PostgresDatabase | None:
    """A connection to the views' streaming replica (TIFFIN_VIEWS_REPLICA_URL), for the API's
    queries; None without one. Read only: it creates nothing, and a write there fails."""
    if settings.views_replica_url is None:
        return None
    return PostgresDatabase(settings.views_replica_url, creates_tables=False)


def open_work_store(settings: Settings) -> ClosableWorkStore:
    return SqlWorkStore(work_database(settings), more_tables=TRACKING_TABLES)


def open_views(settings: Settings) -> SqlDatabase:
    database = views_database(settings)
    tables = [*TRACKING_TABLES, *(t for p in PROJECTIONS.values() for t in p.tables)]
    create_tables(database, tables, "tiffin-views-ddl")
    return database


def projector(tiffin: Tiffin, views: SqlDatabase, name: str) -> Projector:
    """The named projection's projector, following the logs its events are recorded in (the
    Kafka relay's too: its positions, lag and parked events are a projector's)."""
    if name == KAFKA_RELAY:
        projection = relay_projection()
        writer = RelayWriter(views, projection, tiffin.kafka_publisher())
        return Projector(projection, leaders_of(tiffin, projection), writer)
    projection = EVERY_VIEW[name]
    leaders, view = leaders_of(tiffin, projection), live_view(tiffin, views, name)
    built = Projector(projection, leaders, view, personal=tiffin.personal)
    tracing = active_tracing()
    if tracing is not None:  # a span per event applied
        built.observe = tracing.span_for
    return built


def live_view(tiffin: Tiffin, views: SqlDatabase, name: str) -> Rebuildable:
    """Where the named projection's view lives."""
    if name in HOT_VIEWS:
        return KeyViews(tiffin.hot_views, HOT_VIEWS[name], tiffin.settings.redis_prefix)
    return SqlViews(views, PROJECTIONS[name])


def leaders_of(tiffin: Tiffin, projection: Projection) -> list[Application[Any]]:
    """The applications whose logs hold the projection's events, in a fixed order."""
    apps = {app.name: app for app in tiffin.apps()}
    leaders: list[Application[Any]] = []
    for event in projection.appliers:
        app = apps[LOG_OF_AGGREGATE[event.split(".")[0]]]
        if app not in leaders:
            leaders.append(app)
    return leaders


def wake_up_for(tiffin: Tiffin) -> WakeUps | None:
    """Server mode: woken by every commit of events, by any process (else saves in this
    process wake the runtime, and it polls)."""
    if tiffin.settings.database_url is None:
        return None
    channels: dict[str, list[str]] = {}  # per database: a context may have one of its own
    for app in tiffin.apps():
        url = tiffin.settings.context_database_url(app.name)
        assert url is not None  # server mode
        channels.setdefault(url, []).append(getattr(app.recorder, "channel_name"))  # noqa: B009
    return WakeUps([PostgresWakeUp(url, names) for url, names in channels.items()])


def leadership_for(settings: Settings) -> Leadership:
    if settings.database_url is not None:
        return PostgresLeadership(settings.database_url)
    return FileLeadership(settings.data_dir / "locks")


def switched_off(settings: Settings) -> dict[str, str]:
    """The components these settings leave out, each with the setting that turns it on."""
    off = {}
    if settings.kafka_bootstrap_servers is None:
        off.update(dict.fromkeys(KAFKA_COMPONENTS, "TIFFIN_KAFKA_BOOTSTRAP_SERVERS"))
    if settings.push_credentials_file is None:
        off[PUSH] = "TIFFIN_PUSH_CREDENTIALS_FILE"
    return off


def build_runtime(
    tiffin: Tiffin, store: SqlWorkStore, views: SqlDatabase, only: Sequence[str] = COMPONENTS
) -> Runtime:
    """The named components (all by default), woken by every save of this process."""
    unknown = sorted(set(only) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"no worker component {unknown}; there are {list(COMPONENTS)}")
    settings = tiffin.settings
    left_out = set(switched_off(settings))
    if settings.payment_gateway != "simulated":
        left_out.add(SIMULATED_WEBHOOKS)
    components = [
        _built(tiffin, store, views, name)
        for name in COMPONENTS
        if name in only and name not in left_out
    ]
    runtime = Runtime(
        components,
        leadership_for(settings),
        settings.worker_poll_seconds,
        wake_up_for(tiffin),
        give_up_seconds=settings.component_give_up_seconds,
        board=tiffin.health_board(),
        breakers=tiffin.breakers,
        log_heads=_log_heads(tiffin, components),
    )
    for app in (tiffin.restaurants, tiffin.ordering, tiffin.payments, tiffin.deliveries):
        app.lead(runtime)
    return runtime


def _log_heads(tiffin: Tiffin, components: Sequence[Component]) -> LogHeads:
    """The heads of the logs the components follow, one query each, for a pass."""
    followed = {name for c in components if isinstance(c, Following) for name in c.follows}
    apps = [app for app in tiffin.apps() if app.name in followed]
    return lambda: {app.name: app.recorder.max_notification_id() or 0 for app in apps}


def _built(tiffin: Tiffin, store: SqlWorkStore, views: SqlDatabase, name: str) -> Component:
    if name in EVERY_VIEW:
        return projector(tiffin, views, name)
    if name == KAFKA_RELAY:
        return kafka_relay(tiffin, views)
    if name == COURIER_LOCATIONS:
        consumer = tiffin.location_consumer()
        return BackingOff(consumer, consumer.transient)
    return _component(tiffin, store, name)


def kafka_relay(tiffin: Tiffin, views: SqlDatabase) -> BackingOff:
    """The relay of integration events to Kafka, backing off while the cluster is down."""
    return BackingOff(projector(tiffin, views, KAFKA_RELAY), tiffin.kafka_publisher().transient)


def reconciler(tiffin: Tiffin) -> Reconciliation:
    """Looks payments that waited too long up at the gateway (the reconcile queue's handler,
    and ``tiffin payments reconcile``)."""
    after = tiffin.settings.reconcile_after_seconds
    return Reconciliation(tiffin.payments, tiffin.gateway(), tiffin.webhooks, after)


def reconcile_queue(tiffin: Tiffin) -> WorkQueue:
    component = _component(tiffin, tiffin.work_store(), reconciliation.QUEUE)
    assert isinstance(component, WorkQueue)
    return component


def _intake(
    name: str,
    leaders: Sequence[Application[Any]],
    changes: Mapping[str, EventChanges],
    store: SqlWorkStore,
) -> Projector:
    """A queue's intake: a projector whose view is the queue's part of the work table."""

    def recording(to_changes: EventChanges) -> Apply:
        return lambda run, event: store.record(run, name, to_changes(event))

    appliers = {event: recording(to_changes) for event, to_changes in changes.items()}
    projection = Projection(name, (), appliers)
    return Projector(projection, leaders, SqlViews(store.database, projection))


def _component(tiffin: Tiffin, store: SqlWorkStore, name: str) -> Component:
    settings = tiffin.settings
    processes = {app.name: app for app in (tiffin.ordering, tiffin.payments, tiffin.deliveries)}
    queue: dict[str, Any] = {
        "store": store,
        "clock": tiffin.clock,
        "max_attempts": settings.outbox_max_attempts,
        "lease_seconds": settings.work_lease_seconds,
    }
    if name == deadlines.QUEUE:
        times = DeadlineTimes(
            settings.payment_expiry_seconds,
            settings.acceptance_timeout_seconds,
            settings.assignment_retry_seconds,
        )
        apps = (tiffin.ordering, tiffin.payments, tiffin.deliveries)
        fire = DeadlineFiring(*apps, times, ask_gateway=reconciler(tiffin).reconcile)
        intake = _intake(name, list(processes.values()), deadline_changes(times), store)
        return WorkQueue(name, intake.run_once, fire, **queue)
    if name == outbox.QUEUE:
        calls = GatewayCalls(tiffin.payments, tiffin.gateway())
        intake = _intake(name, [tiffin.payments], OUTBOX_CHANGES, store)
        return WorkQueue(name, intake.run_once, calls, **queue)
    if name == reconciliation.QUEUE:
        reconcile = reconciler(tiffin)
        changes = reconcile_changes(settings.reconcile_after_seconds)
        intake = _intake(name, [tiffin.payments], changes, store)
        return WorkQueue(name, intake.run_once, reconcile, **queue)
    if name == push.QUEUE:
        notifications = PushNotifications(
            tiffin.ordering,
            tiffin.payments,
            tiffin.restaurants,
            tiffin.devices(),
            tiffin.push_sender(),
        )
        intake = _intake(name, [tiffin.ordering, tiffin.payments], PUSH_CHANGES, store)
        return WorkQueue(name, intake.run_once, notifications, **queue)
    if name == INBOX:
        return WorkQueue(name, lambda: 0, tiffin.webhook_inbox(), **queue)
    if name == SIMULATED_WEBHOOKS:
        send = SimulatedWebhooks(tiffin.webhook_inbox().receive, tiffin.webhook_secret)
        return WorkQueue(name, lambda: 0, send, **queue)
    app = next(app for app in processes.values() if app.name.lower() == name)
    return SagaStep(app, [processes[leader] for leader in SAGA.follows[app.name]])
