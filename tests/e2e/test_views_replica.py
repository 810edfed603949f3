"""The API reading its views from a streaming replica (TIFFIN_VIEWS_REPLICA_URL) while the
projectors write them, and the API its stored answers, on the primary: a primary and a hot
standby of it are started here from PostgreSQL's own binaries, and the standby's replay is
paused and resumed to show which one each query read, and that ``min_position`` still gives
read-your-writes: it waits on the replica's positions, which arrive with the rows they cover."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.api_flows import Lifecycle
from tests.api_process import ApiServer, api_server, server_environ
from tests.api_transports import Transport
from tests.polling import poll_until_async
from tests.redis_server import REDIS_URL, scratch_prefix
from tests.streaming_replica import StreamingPair, streaming_pair


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    with streaming_pair() as made:
        yield made


@pytest.fixture(scope="module")
def api(pair: StreamingPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with scratch_prefix() as prefix:
        environ = server_environ(
            tmp_path_factory.mktemp("views-replica"),
            TIFFIN_DATABASE_URL=pair.primary_url,
            TIFFIN_VIEWS_REPLICA_URL=pair.replica_url,
            TIFFIN_REDIS_URL=REDIS_URL,
            TIFFIN_REDIS_PREFIX=prefix,
            TIFFIN_READ_WAIT_SECONDS="1",
        )
        with api_server(environ, workers=1) as server:
            yield server


def summary_position(url: str) -> int:
    """How far the order summary view has taken in the Ordering log, in that database."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT position FROM tiffin_projection_positions"
            " WHERE projection = 'order_summary' AND leader = 'Ordering'"
        ).fetchone()
    return int(row[0]) if row else 0


async def taken_in(url: str, position: int) -> bool | None:
    return True if await asyncio.to_thread(summary_position, url) >= position else None


def test_a_whole_order_is_served_with_every_query_read_from_the_replica(api: ApiServer) -> None:
    async def scenario() -> None:
        async with Transport("HTTP/1.1", api) as transport:
            await Lifecycle(transport.send, api.token, api.sign, api.settings.delivery_fee).play()

    asyncio.run(scenario())  # every query with min_position, Idempotency-Keys kept


def test_a_query_waits_for_the_replica_to_replay_the_position_it_names(
    api: ApiServer, pair: StreamingPair
) -> None:
    async def place(flow: Lifecycle) -> None:
        await flow.open_restaurant()
        await flow.place_order()

    async def orders(flow: Lifecycle, position: int, status: int) -> Any:
        return await flow.call(
            "GET", f"/v1/orders?min_position={position}", flow.customer, status, "orders"
        )

    async def scenario() -> tuple[Any, Any, bool, Any]:
        async with Transport("HTTP/1.1", api) as transport:
            first, later = (
                Lifecycle(transport.send, api.token, api.sign, api.settings.delivery_fee)
                for _ in "ab"
            )
            await place(first)
            listed_first = await orders(first, first.order_position, 200)
            await later.open_restaurant()
            pair.replaying(False)
            try:
                await later.place_order()  # while the replica stands still
                await poll_until_async(
                    lambda _seen: taken_in(pair.primary_url, later.order_position),
                    within=30,
                    what="the primary's order summary to take the later order in",
                )
                behind = summary_position(pair.replica_url) < later.order_position
                unavailable = await orders(later, later.order_position, 503)
            finally:
                pair.replaying(True)
            listed_later = await orders(later, later.order_position, 200)
            return listed_first, listed_later, behind, unavailable

    listed_first, listed_later, replica_was_behind, unavailable = asyncio.run(scenario())

    assert replica_was_behind
    assert "has not reached position" in unavailable["detail"]
    assert len(listed_first["items"]) == 1
    assert len(listed_later["items"]) == 1


def test_readiness_reports_the_replica(api: ApiServer) -> None:
    with httpx.Client(verify=api.ssl_context()) as client:
        ready = client.get(f"{api.base_url}/readyz").json()

    assert "replica" in ready["checks"]["views_replica"], ready
