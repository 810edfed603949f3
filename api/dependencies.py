"""What the routes use, and how each route asks for it.

The composition root (``wiring.http_app``) builds one ``ApiParts`` per app in the app's
lifespan and keeps it on ``app.state``. A route names what it uses in its signature through the
``Annotated`` aliases below (``ordering: OrderingApp``), never the whole of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.requests import HTTPConnection
from prometheus_client import CollectorRegistry

from api.access import RestaurantOwners
from api.idempotency import MAX_KEY_LENGTH, IdempotencyStore, RunOnce
from api.live_hub import LiveHub
from api.order_documents import OrderDocuments
from api.order_tracking import OrderTracking
from api.rate_limiting import RouteLimits
from api.view_reads import ViewReads
from application.deliveries import Deliveries
from application.devices import DeviceRegistry
from application.history import EventPositions
from application.identity import BearerVerifier
from application.locations import LocationStore
from application.ordering import Ordering
from application.payments import Payments
from application.restaurants import Restaurants
from application.settings import Settings
from application.webhook_inbox import WebhookInbox
from projections.catalogue import Catalogue
from projections.key_views import HashReads, KeyStore
from projections.personal import Personal
from projections.views import SqlDatabase

Probe = Callable[[], str | None]  # None when healthy, else what to report; raises when down


class ProbeFailed(Exception):
    """A probe's failure whose message /readyz may show as it is (nothing internal in it)."""


@dataclass
class ApiParts:
    """Everything the routes may use, each built by the composition root."""

    settings: Settings
    restaurants: Restaurants
    ordering: Ordering
    payments: Payments
    deliveries: Deliveries
    webhooks: WebhookInbox
    locations: LocationStore
    hot_views: KeyStore  # the key-value views: Redis when configured, else in-process
    hash_reads: HashReads  # their hashes, read from the event loop
    tokens: BearerVerifier
    limits: RouteLimits
    reads: SqlDatabase  # the API's own connection to the views, for queries
    catalogue: Catalogue
    views: ViewReads
    idempotency: IdempotencyStore
    registry: CollectorRegistry
    live: LiveHub  # the process's live subscriptions (WebSocket and SSE)
    positions: EventPositions
    probes: Mapping[str, Probe]  # what /readyz checks, by name
    personal: Personal  # how the views keep people's ids and text
    devices: DeviceRegistry  # where push notifications go
    owners: RestaurantOwners = field(init=False)
    documents: OrderDocuments = field(init=False)
    tracking: OrderTracking = field(init=False)

    def __post_init__(self) -> None:
        self.owners = RestaurantOwners(self.restaurants)
        self.documents = OrderDocuments(self.ordering, self.payments, self.deliveries)
        self.tracking = OrderTracking(
            self.hot_views,
            self.hash_reads,
            self.settings.redis_prefix,
            self.ordering,
            self.owners,
            self.personal,
        )


def _part(name: str) -> Any:
    """A dependency answering the app's part of that name."""

    async def provide(connection: HTTPConnection) -> Any:  # a request or a WebSocket
        return getattr(connection.app.state.parts, name)

    provide.__name__ = f"provide_{name}"
    return Depends(provide)


async def _parts(connection: HTTPConnection) -> ApiParts:
    parts: ApiParts = connection.app.state.parts
    return parts


Parts = Annotated[ApiParts, Depends(_parts)]  # for what hands several parts on together
Config = Annotated[Settings, _part("settings")]
RestaurantsApp = Annotated[Restaurants, _part("restaurants")]
OrderingApp = Annotated[Ordering, _part("ordering")]
PaymentsApp = Annotated[Payments, _part("payments")]
DeliveriesApp = Annotated[Deliveries, _part("deliveries")]
Webhooks = Annotated[WebhookInbox, _part("webhooks")]
Locations = Annotated[LocationStore, _part("locations")]
HotViews = Annotated[KeyStore, _part("hot_views")]
Tokens = Annotated[BearerVerifier, _part("tokens")]
Limits = Annotated[RouteLimits, _part("limits")]
Reads = Annotated[SqlDatabase, _part("reads")]
CatalogueView = Annotated[Catalogue, _part("catalogue")]
Views = Annotated[ViewReads, _part("views")]
Idempotency = Annotated[IdempotencyStore, _part("idempotency")]
Registry = Annotated[CollectorRegistry, _part("registry")]
Live = Annotated[LiveHub, _part("live")]
Positions = Annotated[EventPositions, _part("positions")]
Probes = Annotated[Mapping[str, Probe], _part("probes")]
Owners = Annotated[RestaurantOwners, _part("owners")]
Documents = Annotated[OrderDocuments, _part("documents")]
PersonalData = Annotated[Personal, _part("personal")]
DeviceList = Annotated[DeviceRegistry, _part("devices")]
Tracking = Annotated[OrderTracking, _part("tracking")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="the same key and body again get the first answer (a lost answer's retry)",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[!-~]([ -~]*[!-~])?$",  # visible ASCII; a header's ends are trimmed
    ),
]


async def run_once(
    request: Request, idempotency: Idempotency, key: IdempotencyKey = None
) -> RunOnce:
    return RunOnce(idempotency, request.method, request.url.path, key)


Once = Annotated[RunOnce, Depends(run_once)]
