"""``/v1/couriers``: couriers register, go on and off shift, send their position, and list
their deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool
from starlette.concurrency import run_in_threadpool

from api.access import courier_of
from api.auth import allow
from api.causation import cause_of, retrying_conflicts
from api.cursors import Cursor, decode_cursor, encode_cursor
from api.dependencies import (
    DeliveriesApp,
    Locations,
    Once,
    Reads,
    Views,
)
from api.routes.orders import summary_out
from api.schemas.common import Coordinate, DeliveriesPosition, Page, Strict
from api.schemas.orders import OrderSummaryOut
from application.identity import Identity
from application.locations import CourierPosition
from domain.courier import Courier
from domain.delivery import delivery_id_for
from domain.values import Location, Role
from projections.order_lists import orders_page

router = APIRouter(prefix="/v1/couriers", tags=["couriers"])
CourierCaller = Annotated[Identity, allow(Role.COURIER)]


class CourierCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    vehicle_type: Literal["bicycle", "scooter", "motorcycle", "car"]
    license_plate: str = Field(default="", max_length=20)


class ShiftIn(Strict):
    on_shift: StrictBool


class LocationPing(Strict):
    lat: Coordinate = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: Coordinate = Field(ge=-180, le=180, allow_inf_nan=False)
    heading: Coordinate | None = Field(default=None, ge=0, le=360, allow_inf_nan=False)
    speed_kmh: Coordinate | None = Field(default=None, ge=0, le=300, allow_inf_nan=False)
    accuracy_m: Coordinate | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)


class CourierPublic(BaseModel):
    id: UUID
    owner_id: str
    name: str
    vehicle_type: str
    license_plate: str
    on_shift: bool
    position: int | None = None


class CourierDeliveryOut(OrderSummaryOut):
    delivery_id: UUID


def courier_out(courier: Courier) -> dict[str, Any]:
    return {
        "id": courier.id,
        "owner_id": courier.owner_id,
        "name": courier.name,
        "vehicle_type": str(courier.vehicle_type),
        "license_plate": courier.license_plate,
        "on_shift": courier.on_shift,
    }


@router.post("", status_code=201, response_model=CourierPublic)
def register_courier(
    body: CourierCreate,
    caller: CourierCaller,
    request: Request,
    deliveries: DeliveriesApp,
    once: Once,
) -> Any:
    """One profile per user: a second registration is a 409 (with the same Idempotency-Key
    and body, the first answer)."""

    def create() -> tuple[int, dict[str, Any]]:
        changed = deliveries.register_courier(
            owner_id=caller.subject,
            name=body.name,
            vehicle_type=body.vehicle_type,
            license_plate=body.license_plate,
            cause=cause_of(caller, request),
        )
        return 201, {**courier_out(changed.value), "position": changed.position}

    return once(caller.subject, body.model_dump(mode="json"), create)


@router.put("/me/shift", response_model=CourierPublic)
def set_shift(
    body: ShiftIn,
    caller: CourierCaller,
    request: Request,
    deliveries: DeliveriesApp,
    once: Once,
) -> Any:
    def change() -> tuple[int, dict[str, Any]]:
        courier = deliveries.courier_of_owner(caller.subject)
        cause = cause_of(caller, request)
        # The saga may be assigning this courier a delivery at the same moment: decide again.
        on_shift = body.on_shift
        changed = retrying_conflicts(lambda: deliveries.set_on_shift(courier.id, on_shift, cause))
        return 200, {**courier_out(changed.value), "position": changed.position}

    return once(caller.subject, body.model_dump(mode="json"), change)


@router.put("/me/location", status_code=204)
def report_location(
    body: LocationPing, caller: CourierCaller, deliveries: DeliveriesApp, locations: Locations
) -> Response:
    """The courier's latest position (not an event: it goes to the location store)."""
    deliveries.courier_of_owner(caller.subject)  # 404 without a profile
    position = CourierPosition(courier_of(caller), Location(body.lat, body.lng), datetime.now(UTC))
    locations.record(position)
    return Response(status_code=204)


@router.get("/me/deliveries", response_model=Page[CourierDeliveryOut])
async def my_deliveries(
    caller: CourierCaller,
    deliveries: DeliveriesApp,
    views: Views,
    reads: Reads,
    status: Annotated[str | None, Query(max_length=40, description="the order's status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
    min_position: DeliveriesPosition = None,
) -> Any:
    """The orders this courier is or was assigned, newest first (from the order summary)."""
    after = decode_cursor(cursor)
    await views.wait("order_summary", deliveries, min_position)
    page = await run_in_threadpool(
        lambda: orders_page(
            reads, limit=limit, after=after, courier_id=courier_of(caller), status=status
        )
    )
    items = [
        {**summary_out(row), "delivery_id": delivery_id_for(UUID(row.order_id))}
        for row in page.rows
    ]
    return {"items": items, "next_cursor": encode_cursor(page.next_after)}
