"""``/v1/audit``: an order's full history and its state as it was (auditors and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import allow
from api.dependencies import DeliveriesApp, OrderingApp, PaymentsApp, Positions
from api.order_documents import order_document
from api.plain import plain
from api.problems import ApiProblem
from api.times import TIME, instant_of
from application.audit import order_state_at
from application.history import order_history
from application.identity import Identity
from domain.payment import payment_id_for
from domain.values import Role

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Identity, allow(Role.AUDITOR)]


class HistoryEntryOut(BaseModel):
    position: int | None
    stream: str  # order, payment or delivery
    aggregate_id: UUID
    version: int
    type: str
    at: datetime
    actor: str
    actor_role: str
    correlation_id: str
    data: dict[str, Any]


class OrderHistoryOut(BaseModel):
    order_id: UUID
    items: list[HistoryEntryOut]


class OrderStateOut(BaseModel):
    order_id: UUID
    version: int
    as_of: datetime  # when the event of that version happened
    state: dict[str, Any]  # the order as it was then (its own state; see the history for more)


@router.get("/orders/{order_id}/history", response_model=OrderHistoryOut)
def history(
    order_id: UUID,
    caller: Auditor,
    ordering: OrderingApp,
    payments: PaymentsApp,
    deliveries: DeliveriesApp,
    positions: Positions,
) -> Any:
    """Every event of the order, of its payment and of its delivery: each with its position in
    its context's log, who caused it and in which correlation."""
    entries = order_history(ordering, payments, deliveries, order_id, positions)
    items = [
        {
            "position": entry.position,
            "stream": entry.stream,
            "aggregate_id": entry.aggregate_id,
            "version": entry.version,
            "type": entry.type,
            "at": entry.at,
            "actor": entry.actor_id,
            "actor_role": entry.actor_role,
            "correlation_id": entry.correlation_id,
            "data": plain(entry.data),
        }
        for entry in entries
    ]
    return {"order_id": order_id, "items": items}


@router.get("/orders/{order_id}/state", response_model=OrderStateOut)
def state(
    order_id: UUID,
    caller: Auditor,
    ordering: OrderingApp,
    version: Annotated[int | None, Query(ge=1, le=2**31, description="1 = as placed")] = None,
    at: Annotated[
        str | None, Query(max_length=40, description="an RFC 3339 time", json_schema_extra=TIME)
    ] = None,
) -> Any:
    """The order as it was at a version, at a moment, or both (the earlier of the two); with
    neither, as it is now."""
    moment = None if at is None else instant_of(at)
    if at is not None and moment is None:
        raise ApiProblem(422, "at must be an RFC 3339 time (e.g. 2025-01-31T18:04:05Z)")
    order = order_state_at(ordering, order_id, version=version, at=moment)
    events = ordering.history(order_id)[: order.version]
    milestones = ordering.milestones_of(events)
    payment = (payment_id_for(order_id), "", "")
    document = order_document(order, milestones, payment, None)
    for dropped in ("payment", "delivery"):
        document.pop(dropped)
    return {
        "order_id": order_id,
        "version": order.version,
        "as_of": events[-1].timestamp,
        "state": plain(document),
    }
