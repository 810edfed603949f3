"""Live topics across API replicas (server mode: PostgreSQL, Redis, a `tiffin worker`): a
customer following an order on replica A sees what is done through replica B, since every
replica hears the hot views' feeds through Redis pub/sub."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_flows import Lifecycle
from tests.api_process import ApiServer, api_server, server_environ
from tests.api_transports import Transport
from tests.live_clients import live_client
from tests.postgres import fresh_schema
from tests.redis_server import REDIS_URL, scratch_prefix


@pytest.fixture(scope="module")
def replicas(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiServer, ApiServer]]:
    with fresh_schema(database_url) as schema_url, scratch_prefix() as prefix:
        shared = {
            "TIFFIN_DATABASE_URL": schema_url,
            "TIFFIN_REDIS_URL": REDIS_URL,
            "TIFFIN_REDIS_PREFIX": prefix,
        }
        first = server_environ(tmp_path_factory.mktemp("replica-a"), **shared)
        # Both API processes start before the worker (as in test_api_end_to_end: processes
        # starting beside a running worker on a new schema have been seen to hang in CI).
        with api_server(first) as a:
            second = server_environ(
                tmp_path_factory.mktemp("replica-b"),
                **shared,
                TIFFIN_JWT_SECRET=a.environ["TIFFIN_JWT_SECRET"],
            )
            with api_server(second, workers=1) as b:
                yield a, b


def test_a_customer_on_one_replica_sees_changes_made_through_another(
    replicas: tuple[ApiServer, ApiServer],
) -> None:
    a, b = replicas

    async def scenario() -> list[dict[str, Any]]:
        async with Transport("HTTP/1.1", b) as through_b:
            flow = Lifecycle(through_b.send, b.token, b.sign, b.settings.delivery_fee)
            await flow.open_restaurant()
            await flow.start_courier()
            await flow.place_order()
            order = f"order:{flow.order_id}"
            async with live_client(a, flow.customer) as on_a:
                seen = [await on_a.subscribe(order)]
                await flow.capture_payment()
                await flow.accept()
                while not (
                    seen[-1].get("data", {}).get("type") == "status"
                    and seen[-1]["data"]["status"] == "accepted"
                ):
                    seen.append(await on_a.next_about(order))
                return seen

    seen = asyncio.run(scenario())

    statuses = [m["data"]["status"] for m in seen if m["data"].get("type") == "status"]
    assert statuses[-2:] == ["pending_acceptance", "accepted"]
    assert seen[0]["type"] == "snapshot"
