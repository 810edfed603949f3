"""An order's status from the hot view, and its live updates as Server-Sent Events."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.access import RestaurantOwners, courier_of
from api.auth import allow
from api.dependencies import (
    Channels,
    Config,
    HotViews,
    Locations,
    OrderingApp,
    Owners,
    PersonalData,
    Views,
)
from api.live_updates import OrderChannels
from api.problems import ApiProblem
from api.schemas.common import OrderingPosition
from api.schemas.orders import OrderStatusOut
from application.identity import Identity
from application.locations import LocationStore
from application.ordering import Ordering
from domain.values import Role
from projections.key_views import KeyStore
from projections.order_tracking import channel, tracked_order
from projections.personal import Personal, lookups

router = APIRouter(prefix="/v1/orders", tags=["orders"])
Reader = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER, Role.ANALYST)]
Party = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER)]
FINAL = frozenset({"delivered", "cancelled", "rejected"})
KEEP_ALIVE_SECONDS = 15.0
LOCATION_EVERY_SECONDS = 1.0


class OrderTracking:
    """Orders as the order tracking hot view has them, for the callers who may see them."""

    def __init__(
        self,
        hot_views: KeyStore,
        prefix: str,
        ordering: Ordering,
        owners: RestaurantOwners,
        personal: Personal,
    ) -> None:
        self.hot_views = hot_views
        self.prefix = prefix
        self.ordering = ordering
        self.owners = owners
        self.personal = personal  # the view keeps the customer's pseudonym

    def visible(self, caller: Identity, order_id: UUID) -> dict[str, str]:
        """The order's hot view entry, if the caller may see the order; else 404. An order
        the view has not taken in yet (placed a moment ago) is read from the event store."""
        tracked = self.current(order_id)
        if not tracked:
            tracked = self._from_event_store(order_id)
        if self._may_see(caller, tracked):
            return tracked
        raise ApiProblem(404, f"no order with id {order_id}")

    def current(self, order_id: UUID) -> dict[str, str]:
        return tracked_order(self.hot_views, self.prefix, order_id)

    def _from_event_store(self, order_id: UUID) -> dict[str, str]:
        order, milestones = self.ordering.order_and_milestones(order_id)
        return {
            "status": str(order.status),
            "customer_id": order.customer_id,
            "restaurant_id": str(order.restaurant_id),
            "courier_id": order.courier_id or "",
            "status_at": max(milestones.values()).isoformat(),
        }

    def _may_see(self, caller: Identity, tracked: dict[str, str]) -> bool:
        if caller.role in (Role.ADMIN, Role.ANALYST):
            return True
        if caller.role is Role.CUSTOMER:
            return tracked.get("customer_id") in lookups(self.personal, caller.subject)
        if caller.role is Role.COURIER:
            return tracked.get("courier_id") == courier_of(caller)
        owner = self.owners(UUID(tracked["restaurant_id"]))
        return caller.role is Role.RESTAURANT and owner == caller.subject


async def order_tracking(
    settings: Config,
    hot_views: HotViews,
    ordering: OrderingApp,
    owners: Owners,
    personal: PersonalData,
) -> OrderTracking:
    return OrderTracking(hot_views, settings.redis_prefix, ordering, owners, personal)


Tracking = Annotated[OrderTracking, Depends(order_tracking)]


@router.get("/{order_id}/status", response_model=OrderStatusOut)
async def order_status(
    order_id: UUID,
    caller: Reader,
    tracking: Tracking,
    ordering: OrderingApp,
    views: Views,
    min_position: OrderingPosition = None,
) -> Any:
    """The order's status from the order tracking hot view (Redis in server mode): the cheap
    query for apps polling an order."""
    await views.wait("order_tracking", ordering, min_position)
    tracked = await run_in_threadpool(tracking.visible, caller, order_id)
    return {
        "id": order_id,
        "status": tracked.get("status"),
        "payment_status": tracked.get("payment_status") or None,
        "delivery_status": tracked.get("delivery_status") or None,
        "courier_id": tracked.get("courier_id") or None,
        "status_at": tracked.get("status_at") or None,
    }


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


@router.get(
    "/{order_id}/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def follow_order(
    order_id: UUID,
    caller: Party,
    request: Request,
    tracking: Tracking,
    channels: Channels,
    locations: Locations,
) -> StreamingResponse:
    """Server-Sent Events: ``status`` on every status change (first the current one), and
    ``courier_location`` while a courier is on the way; the stream ends once the order is
    delivered, cancelled or rejected."""
    tracked = await run_in_threadpool(tracking.visible, caller, order_id)
    stream = _updates(tracking, channels, locations, request, order_id, tracked)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def _updates(
    tracking: OrderTracking,
    channels: OrderChannels,
    locations: LocationStore,
    request: Request,
    order_id: UUID,
    tracked: dict[str, str],
) -> AsyncIterator[bytes]:
    name = tracking.prefix + channel(order_id)
    async with channels.subscribe(name) as subscription:
        # Read again once subscribed, so that no change falls between the read and the channel.
        now = await run_in_threadpool(tracking.current, order_id)
        tracked = now or tracked
        courier = tracked.get("courier_id") or None
        status = tracked.get("status", "")
        yield _sse("status", {"order_id": str(order_id), "status": status})
        last_location: Any = None
        quiet_since = time.monotonic()
        while status not in FINAL and not await request.is_disconnected():
            message = await subscription.next(LOCATION_EVERY_SECONDS)
            if message is not None and message.get("type") == "status":
                if str(message.get("status")) != status:  # the first read may have seen it
                    status = str(message.get("status"))
                    yield _sse("status", message)
                quiet_since = time.monotonic()
            elif message is not None and message.get("type") == "courier":
                courier = message.get("courier_id") or None
            if courier is not None:
                latest = await run_in_threadpool(locations.latest, [courier])
                found = latest.get(courier)
                if found is not None and found != last_location:
                    last_location = found
                    location = {"lat": found.location.lat, "lng": found.location.lng}
                    at = found.at.isoformat()
                    yield _sse("courier_location", {"courier_id": courier, **location, "at": at})
                    quiet_since = time.monotonic()
            if time.monotonic() - quiet_since > KEEP_ALIVE_SECONDS:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
