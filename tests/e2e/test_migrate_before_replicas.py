"""Replicas started with ``TIFFIN_CREATE_TABLES=false`` on an empty database, as Compose and
Kubernetes start them: they create nothing, say so (``/readyz`` 503, workers waiting), and
take up their work once ``tiffin migrate`` has run, three of them at once, one doing it."""

from __future__ import annotations

import asyncio
import subprocess
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.api_flows import Lifecycle
from tests.api_process import ApiServer, api_server, process_environ, server_environ
from tests.api_transports import Transport
from tests.e2e.test_cli import TIFFIN
from tests.e2e.workers import Workers
from tests.polling import Seen, poll_until
from wiring.migrate import SCHEMA_VERSION


def readiness(server: ApiServer) -> httpx.Response:
    with httpx.Client(verify=server.ssl_context(), timeout=5.0) as client:
        return client.get(f"{server.base_url}/readyz")


def test_replicas_wait_for_one_migration_then_serve(postgres_url: str, tmp_path: Path) -> None:
    assert TIFFIN is not None
    shared = {"TIFFIN_DATABASE_URL": postgres_url, "TIFFIN_CREATE_TABLES": "false"}
    environs = [server_environ(tmp_path / f"api-{n}", **shared) for n in "ab"]
    worker_environ = process_environ({**environs[0], "TIFFIN_WORKER_POLL_SECONDS": "0.05"})
    workers = Workers(worker_environ, tmp_path / "workers")
    with ExitStack() as running:
        servers = [running.enter_context(api_server(environ)) for environ in environs]
        running.callback(workers.stop)
        pair = [workers.start() for _ in range(2)]

        for server in servers:
            answer = readiness(server)
            assert answer.status_code == 503
            assert answer.json()["checks"]["schema"] == (
                f"failed: behind: no schema, this release needs version {SCHEMA_VERSION}:"
                " run tiffin migrate"
            )

        def waiting(seen: Seen) -> bool | None:
            seen.last = [w.log.read_text()[-200:] for w in pair]
            return True if all("waiting for `tiffin migrate`" in s for s in seen.last) else None

        poll_until(waiting, within=30.0, what="both workers waiting for the migration")
        migrations = [
            subprocess.Popen(
                [TIFFIN, "migrate"], env=worker_environ, stdout=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        outputs = [m.communicate(timeout=120)[0] for m in migrations]
        assert [m.returncode for m in migrations] == [0, 0, 0], outputs
        did = [out for out in outputs if f"from version 0 to {SCHEMA_VERSION}" in out]
        assert len(did) == 1, f"one migrated, the others found nothing to do: {outputs}"

        for server in servers:
            poll_until(
                lambda seen, s=server: True if readiness(s).status_code == 200 else None,
                within=10.0,
                what="ready once migrated",
            )
        for worker in pair:
            workers.wait_running(worker, timeout=30.0)
        asyncio.run(an_order_through(servers[0]))  # a platform built before the migration


async def an_order_through(server: ApiServer) -> None:
    """Placed, paid and accepted over HTTP: the saga's workers and the API's writes work."""
    async with Transport("HTTP/1.1", server) as transport:
        flow = Lifecycle(transport.send, server.token, server.sign, server.settings.delivery_fee)
        await flow.open_restaurant()
        await flow.place_order()
        await flow.capture_payment()
        await flow.accept()
