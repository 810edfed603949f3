"""``/v1/deliveries``: a delivery as its parties see it; the assigned courier's milestones."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from api.access import RestaurantOwners, courier_of, is_party
from api.auth import allow
from api.causation import cause_of, retrying_conflicts
from api.dependencies import (
    DeliveriesApp,
    Locations,
    Once,
    OrderingApp,
    Owners,
)
from api.idempotency import RunOnce
from api.problems import ApiProblem
from api.schemas.common import LocationOut, location_out
from application.deliveries import Deliveries
from application.identity import Identity
from application.locations import LocationStore
from application.ordering import Ordering
from application.results import Changed
from domain.delivery import COLLECTED, Delivery, DeliveryStatus
from domain.values import Cause, Location, Role

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])
Reader = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER)]
CourierCaller = Annotated[Identity, allow(Role.COURIER)]
AVERAGE_SPEED_KMH = 20.0  # city traffic, for the ETA
FINISHED = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED})


class DeliveryPublic(BaseModel):
    id: UUID
    order_id: UUID
    status: str
    courier_id: str | None
    courier_location: LocationOut | None
    pickup: LocationOut
    dropoff: LocationOut
    eta_minutes: int | None
    position: int | None = None


def eta_minutes(delivery: Delivery, courier_at: Location | None) -> int | None:
    """Minutes until drop-off at an average city speed: from the courier (or the restaurant)
    via the restaurant unless the food is collected, then to the customer."""
    if delivery.status in FINISHED:
        return None
    start = courier_at or delivery.pickup
    if delivery.status in COLLECTED:
        km = start.distance_km(delivery.dropoff)
    else:
        km = start.distance_km(delivery.pickup) + delivery.pickup.distance_km(delivery.dropoff)
    return max(1, math.ceil(km / AVERAGE_SPEED_KMH * 60))


def delivery_document(locations: LocationStore, delivery: Delivery) -> dict[str, Any]:
    courier_at = None
    if delivery.courier_id is not None:
        found = locations.latest([delivery.courier_id]).get(delivery.courier_id)
        courier_at = found.location if found else None
    return {
        "id": delivery.id,
        "order_id": delivery.order_id,
        "status": str(delivery.status),
        "courier_id": delivery.courier_id,
        "courier_location": location_out(courier_at) if courier_at else None,
        "pickup": location_out(delivery.pickup),
        "dropoff": location_out(delivery.dropoff),
        "eta_minutes": eta_minutes(delivery, courier_at),
    }


def _visible_delivery(
    deliveries: Deliveries,
    ordering: Ordering,
    owners: RestaurantOwners,
    caller: Identity,
    delivery_id: UUID,
) -> Delivery:
    delivery = deliveries.get_delivery(delivery_id)
    if caller.role is Role.ADMIN:
        return delivery
    if caller.role is Role.COURIER:
        if delivery.courier_id == courier_of(caller):
            return delivery
    else:
        order = ordering.get_order(delivery.order_id)
        if is_party(caller, order, owners):
            return delivery
    raise ApiProblem(404, f"no delivery with id {delivery_id}")


@router.get("/{delivery_id}", response_model=DeliveryPublic)
def get_delivery(
    delivery_id: UUID,
    caller: Reader,
    deliveries: DeliveriesApp,
    ordering: OrderingApp,
    owners: Owners,
    locations: Locations,
) -> Any:
    delivery = _visible_delivery(deliveries, ordering, owners, caller, delivery_id)
    return delivery_document(locations, delivery)


class DeliveryCommand:
    """Runs a command on a delivery for its courier, and answers the delivery as it is then."""

    def __init__(
        self,
        request: Request,
        deliveries: Deliveries,
        locations: LocationStore,
        once: RunOnce,
    ) -> None:
        self.request = request
        self.deliveries = deliveries
        self.locations = locations
        self.once = once

    def __call__(
        self,
        caller: Identity,
        delivery_id: UUID,
        command: Callable[[Deliveries, Cause], Changed[Delivery]],
    ) -> Any:
        """Runs ``command`` if the caller is the delivery's courier (or an admin; to any
        other courier the delivery does not exist); with an Idempotency-Key, a repeat gets
        the first answer."""
        deliveries = self.deliveries

        def run() -> tuple[int, dict[str, Any]]:
            delivery = deliveries.get_delivery(delivery_id)
            if caller.role is not Role.ADMIN and delivery.courier_id != courier_of(caller):
                raise ApiProblem(404, f"no delivery with id {delivery_id}")  # as if none
            cause = cause_of(caller, self.request)
            changed = retrying_conflicts(lambda: command(deliveries, cause))
            document = delivery_document(self.locations, changed.value)
            return 200, {**document, "position": changed.position}

        return self.once(caller.subject, None, run)


async def delivery_command(
    request: Request,
    deliveries: DeliveriesApp,
    locations: Locations,
    once: Once,
) -> DeliveryCommand:
    return DeliveryCommand(request, deliveries, locations, once)


RunOnDelivery = Annotated[DeliveryCommand, Depends(delivery_command)]


@router.post("/{delivery_id}/pickup", response_model=DeliveryPublic)
def pick_up(delivery_id: UUID, caller: CourierCaller, run: RunOnDelivery) -> Any:
    return run(
        caller, delivery_id, lambda deliveries, cause: deliveries.pick_up(delivery_id, cause)
    )


@router.post("/{delivery_id}/deliver", response_model=DeliveryPublic)
def deliver(delivery_id: UUID, caller: CourierCaller, run: RunOnDelivery) -> Any:
    return run(
        caller, delivery_id, lambda deliveries, cause: deliveries.deliver(delivery_id, cause)
    )
