"""A customer following an order live (``GET /v1/orders/{id}/live``, Server-Sent Events)
while the order goes through its whole life; events are read with deadlines, never sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.api_flows import Lifecycle
from tests.api_transports import SseEvent, Transport, next_event, sse_events

EVENT_WITHIN_SECONDS = 20.0


@dataclass
class Followed:
    """What the customer saw: every event, and the status of each ``status`` event."""

    flow: Lifecycle
    events: list[SseEvent] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    on_the_way: dict[str, float] = field(default_factory=dict)  # the courier's second ping

    async def take(self, events: AsyncIterator[SseEvent], waiting_for: str) -> SseEvent:
        event = await next_event(events, EVENT_WITHIN_SECONDS, waiting_for)
        self.events.append(event)
        if event.kind == "status":
            self.statuses.append(str(event.data["status"]))
        return event

    async def next_status(self, events: AsyncIterator[SseEvent], waiting_for: str) -> None:
        """Reads events until one says a status other than the last one seen."""
        last = self.statuses[-1]
        while (await self.take(events, waiting_for)).kind != "status" or self.statuses[-1] == last:
            pass

    @property
    def locations(self) -> list[SseEvent]:
        return [event for event in self.events if event.kind == "courier_location"]


async def follow_an_order(flow: Lifecycle, transport: Transport) -> Followed:
    """Places the order, follows it live, and plays the rest of its life meanwhile."""
    seen = Followed(flow)
    await flow.open_restaurant()
    await flow.start_courier()
    await flow.place_order()
    async with transport.stream(f"/v1/orders/{flow.order_id}/live", flow.customer) as head:
        assert head.status == 200, head
        assert head.headers["content-type"].startswith("text/event-stream")
        events = sse_events(head.chunks)
        await seen.take(events, "the current status")
        await flow.capture_payment()
        await seen.next_status(events, "pending_acceptance")
        await flow.accept()
        await seen.next_status(events, "accepted")
        await flow.await_courier()
        seen.on_the_way = {"lat": flow.kitchen["lat"] + 0.004, "lng": flow.kitchen["lng"] + 0.003}
        await flow.ping(seen.on_the_way)
        while not seen.locations or seen.locations[-1].data["lat"] != seen.on_the_way["lat"]:
            await seen.take(events, "the courier's location after the ping")
        await flow.mark_ready()
        await flow.pick_up_and_deliver()
        async with asyncio.timeout(EVENT_WITHIN_SECONDS):  # the stream ends once delivered
            while seen.statuses[-1] != "delivered":
                await seen.take(events, "delivered")
            end = [event async for event in events]
        assert end == [], f"events after delivered: {end}"
    return seen
