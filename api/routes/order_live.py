"""An order's status from the hot view, and its live updates as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.auth import allow
from api.dependencies import OrderingApp, Parts, Tracking, Views
from api.live_session import FINAL, LiveSession
from api.routes.live import live_topics
from api.schemas.common import OrderingPosition
from api.schemas.orders import OrderStatusOut
from application.identity import Identity
from domain.values import Role
from projections.live_feed import order_topic

router = APIRouter(prefix="/v1/orders", tags=["orders"])
Reader = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER, Role.ANALYST)]
Party = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER)]
KEEP_ALIVE_SECONDS = 15.0


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
    tracked = await tracking.visible_now(caller, order_id)
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
    parts: Parts,
) -> StreamingResponse:
    """Server-Sent Events: ``status`` on every status change (first the current one), and
    ``courier_location`` while a courier is on the way; the stream ends once the order is
    delivered, cancelled or rejected. The order's live topic (``/v1/live``), as events."""
    await tracking.visible_now(caller, order_id)
    outbox = parts.live.outbox(parts.settings.live_buffer_messages)
    session = LiveSession(caller, live_topics(parts), parts.live, parts.locations, outbox, 1)
    stream = _updates(session, request, order_topic(order_id))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def _updates(session: LiveSession, request: Request, topic: str) -> AsyncIterator[bytes]:
    try:
        if not await session.subscribe(topic):
            return
        status = ""
        outbox = session.outbox
        while status not in FINAL and not outbox.going_away:
            if await request.is_disconnected():
                return
            item = await outbox.next(KEEP_ALIVE_SECONDS)
            if item is None:
                if not outbox.going_away:
                    yield b": keep-alive\n\n"
                continue
            data = item.payload.get("data", {})
            if item.kind == "snapshot" and data.get("status"):
                status = str(data["status"])
                yield _sse("status", {"order_id": data["order_id"], "status": status})
            elif item.kind == "update" and data.get("type") == "status":
                if data.get("status") != status:  # the snapshot may have seen it
                    status = str(data.get("status"))
                    yield _sse("status", data)
            elif item.kind == "courier_location":
                yield _sse("courier_location", data)
            elif item.kind == "error":
                yield _sse("error", item.payload)
                return
            if outbox.overflowed:
                return  # a follower this slow reconnects and starts from the current status
    finally:
        session.close()
