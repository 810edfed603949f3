"""What the routes use, built once per app by ``api.app.create_app`` (the HTTP composition root)
and kept on ``app.state``; routes reach it through ``services_of(request)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from fastapi import Request
from prometheus_client import CollectorRegistry

from application.bootstrap import Tiffin
from application.runtime import Runtime
from application.settings import Settings
from projections.catalogue import Catalogue
from projections.views import SqlDatabase

if TYPE_CHECKING:
    from adapters.bearer_tokens import BearerTokens
    from api.idempotency import IdempotencyStore
    from api.live_updates import OrderChannels
    from api.rate_limiting import RouteLimits
    from api.view_reads import ViewReads


@dataclass
class Services:
    settings: Settings
    tiffin: Tiffin
    tokens: BearerTokens
    limits: RouteLimits
    reads: SqlDatabase  # the API's own connection to the views, for queries
    catalogue: Catalogue
    views: ViewReads
    idempotency: IdempotencyStore
    registry: CollectorRegistry
    channels: OrderChannels
    runtime: Runtime | None = None  # the embedded default's in-process workers
    _owners: dict[UUID, str] = field(default_factory=dict)

    def restaurant_owner(self, restaurant_id: UUID) -> str:
        """Who registered the restaurant (it never changes, so it is remembered)."""
        owner = self._owners.get(restaurant_id)
        if owner is None:
            owner = self.tiffin.restaurants.get_restaurant(restaurant_id).owner_id
            self._owners[restaurant_id] = owner
        return owner


def services_of(request: Request) -> Services:
    services: Any = request.app.state.services
    return services  # type: ignore[no-any-return]
