"""A follower's outbox: bounded, it marks an overflow instead of growing; it wakes its
connection for each message and when the connection must end; an SSE stream awaits it."""

from __future__ import annotations

import asyncio

from api.live_hub import Outbox


def test_an_outbox_past_its_limit_is_overflowed_and_keeps_what_it_held() -> None:
    woken: list[int] = []
    outbox = Outbox(limit=3)
    outbox.wake = lambda: woken.append(len(outbox.items))

    for n in range(5):
        outbox.put("update", {"n": n})

    assert [item.payload["n"] for item in outbox.items] == [0, 1, 2]
    assert outbox.overflowed
    assert outbox.ending
    assert woken == [1, 2, 3, 3]  # each message, then the overflow; nothing after it


def test_a_reader_gets_the_messages_in_order_and_nothing_after_quiet() -> None:
    async def scenario() -> list[object]:
        outbox = Outbox(limit=10)
        loop = asyncio.get_running_loop()
        loop.call_soon(outbox.put, "update", {"n": 1})
        first = await outbox.next(within=5)
        outbox.put("update", {"n": 2})
        second = await outbox.next(within=5)
        quiet = await outbox.next(within=0.01)
        return [first and first.payload, second and second.payload, quiet, outbox.wake]

    assert asyncio.run(scenario()) == [{"n": 1}, {"n": 2}, None, None]


def test_a_reader_waiting_is_let_go_at_once_when_the_server_shuts_down() -> None:
    async def scenario() -> tuple[object, float]:
        outbox = Outbox(limit=10)
        loop = asyncio.get_running_loop()
        loop.call_soon(outbox.leave)
        began = loop.time()
        got = await outbox.next(within=30)
        return got, loop.time() - began

    got, took = asyncio.run(scenario())

    assert got is None
    assert took < 5
