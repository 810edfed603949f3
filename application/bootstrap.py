"""The composition root: builds every application, and the saga's workers, from the settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from eventsourcing.application import Application
from redis import Redis

from adapters.event_store import event_store_env
from adapters.http_gateway import HttpUpiGateway
from adapters.leadership import FileLeadership, PostgresLeadership
from adapters.memory_locations import InProcessLocationStore
from adapters.redis_locations import RedisLocationStore
from adapters.secrets import configured_or_generated
from adapters.simulated_gateway import SimulatedUpiGateway
from adapters.work_store import PostgresWorkStore, SqliteWorkStore
from application import deadlines, outbox
from application.deadlines import DeadlineFiring, DeadlineTimes, deadline_changes
from application.deliveries import Deliveries
from application.gateway import UpiGateway
from application.locations import LocationStore
from application.ordering import Ordering
from application.outbox import OUTBOX_CHANGES, GatewayCalls
from application.payments import Merchant, Payments
from application.restaurants import Restaurants
from application.runtime import SAGA, Component, Leadership, Runtime, SagaStep
from application.settings import Settings
from application.webhooks import PaymentWebhooks, WebhookSignatures
from application.work import EventChanges, Handler, WorkQueue, WorkStore
from domain.values import Money

Clock = Callable[[], float]
COMPONENTS = ("ordering", "payments", "deliveries", "deadlines", "outbox")


@dataclass
class Tiffin:
    """The running platform: one application per bounded context, and the ports they use."""

    settings: Settings
    restaurants: Restaurants
    ordering: Ordering
    payments: Payments
    deliveries: Deliveries
    webhooks: PaymentWebhooks
    gateway: UpiGateway
    locations: LocationStore
    clock: Clock = time.time
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        for app in (self.restaurants, self.ordering, self.payments, self.deliveries):
            app.close()

    def __enter__(self) -> Tiffin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def work_store(self) -> WorkStore:
        """The table of deadlines and gateway calls (opened once, closed with the platform)."""
        if not hasattr(self, "_work_store"):
            store: PostgresWorkStore | SqliteWorkStore
            if self.settings.database_url is not None:
                store = PostgresWorkStore(self.settings.database_url)
            else:
                store = SqliteWorkStore(self.settings.data_dir / "work.sqlite3")
            self._closers.append(store.close)
            self._work_store = store
        return self._work_store

    def runtime(self, only: Sequence[str] = COMPONENTS) -> Runtime:
        """The saga's workers (all, or only the named ones), not started yet."""
        unknown = sorted(set(only) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"no worker component {unknown}; there are {list(COMPONENTS)}")
        components = [self._component(name) for name in COMPONENTS if name in only]
        runtime = Runtime(components, self._leadership(), self.settings.worker_poll_seconds)
        for app in (self.ordering, self.payments, self.deliveries):
            app.lead(runtime)
        return runtime

    def _component(self, name: str) -> Component:
        apps = {app.name: app for app in (self.ordering, self.payments, self.deliveries)}
        if name == deadlines.QUEUE:
            times = DeadlineTimes(
                self.settings.payment_expiry_seconds,
                self.settings.acceptance_timeout_seconds,
                self.settings.assignment_retry_seconds,
            )
            return self._queue(
                name,
                list(apps.values()),
                deadline_changes(times),
                DeadlineFiring(self.ordering, self.payments, self.deliveries, times),
            )
        if name == outbox.QUEUE:
            return self._queue(
                name, [self.payments], OUTBOX_CHANGES, GatewayCalls(self.payments, self.gateway)
            )
        app = next(app for app in apps.values() if app.name.lower() == name)
        return SagaStep(app, [apps[leader] for leader in SAGA.follows[app.name]])

    def _queue(
        self,
        name: str,
        leaders: Sequence[Application[Any]],
        changes: Mapping[str, EventChanges],
        handle: Handler,
    ) -> WorkQueue:
        return WorkQueue(
            name=name,
            leaders=leaders,
            changes=changes,
            handle=handle,
            store=self.work_store(),
            clock=self.clock,
            max_attempts=self.settings.outbox_max_attempts,
        )

    def _leadership(self) -> Leadership:
        if self.settings.database_url is not None:
            return PostgresLeadership(self.settings.database_url)
        return FileLeadership(self.settings.data_dir / "locks")


def bootstrap(settings: Settings, clock: Clock = time.time) -> Tiffin:
    """Builds the platform on the event store the settings choose."""
    closers: list[Callable[[], None]] = []
    restaurants = Restaurants(event_store_env(settings, Restaurants.name))
    ordering = Ordering(
        event_store_env(settings, Ordering.name),
        restaurants=restaurants,
        delivery_fee=Money.parse(settings.delivery_fee),
    )
    payments = Payments(
        event_store_env(settings, Payments.name),
        merchant=Merchant(settings.merchant_vpa, settings.merchant_name),
    )
    locations = _locations(settings, closers)
    deliveries = Deliveries(
        event_store_env(settings, Deliveries.name), orders=ordering, locations=locations
    )
    webhook_secret = configured_or_generated(
        settings.payment_webhook_secret, settings.data_dir, "payment-webhook"
    )
    webhooks = PaymentWebhooks(payments, WebhookSignatures(webhook_secret))
    return Tiffin(
        settings=settings,
        restaurants=restaurants,
        ordering=ordering,
        payments=payments,
        deliveries=deliveries,
        webhooks=webhooks,
        gateway=_gateway(settings, webhooks, webhook_secret),
        locations=locations,
        clock=clock,
        _closers=closers,
    )


def _locations(settings: Settings, closers: list[Callable[[], None]]) -> LocationStore:
    """Couriers' positions: in Redis when configured (shared by every process), else in-process."""
    if settings.redis_url is None:
        return InProcessLocationStore()
    client = Redis.from_url(settings.redis_url)
    closers.append(client.close)
    return RedisLocationStore(client, prefix=f"{settings.redis_prefix}courier:")


def _gateway(settings: Settings, webhooks: PaymentWebhooks, webhook_secret: bytes) -> UpiGateway:
    """The UPI gateway the settings choose: a real one over HTTP, or the simulated one."""
    if settings.payment_gateway == "http":
        assert settings.payment_gateway_url is not None  # Settings refuses http without a URL
        key = settings.payment_gateway_key
        return HttpUpiGateway(settings.payment_gateway_url, key.get_secret_value() if key else "")
    return SimulatedUpiGateway(webhooks, webhook_secret, settings.simulated_capture_seconds)
