"""A small API for the serving tests, run in its own process by ``tests.http_servers``.

``python -m tests.fakes.echo_app DATA_DIR PORT GRACEFUL_SECONDS`` serves it with
``api.server.run_server``; it prints ``ready`` on stdout once the sockets are served.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from adapters.tls_certificate import ensure_certificate
from api.server import hypercorn_config, run_server

READY_LINE = "ready"
SLOW_STARTED_LINE = "slow request started"  # lets a test signal while /slow is in flight
SLOW_SECONDS = 1.0
EVENT_GAP_SECONDS = 0.05  # long enough for each event to leave in a frame of its own


def echo_app() -> FastAPI:
    """/hello, /echo (the body back), /headers (the request's), /slow (1 s), /events (SSE)."""
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        media_type = request.headers.get("content-type", "application/octet-stream")
        # Tells a test which connection carried the request.
        client = f"{request.client.host}:{request.client.port}" if request.client else "?"
        return Response(await request.body(), media_type=media_type, headers={"x-client": client})

    @app.api_route("/headers", methods=["GET", "POST"])
    async def headers(request: Request) -> dict[str, str]:
        return dict(request.headers)

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        print(SLOW_STARTED_LINE, flush=True)
        await asyncio.sleep(SLOW_SECONDS)
        return {"slow": True}

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def three_events() -> AsyncIterator[bytes]:
            for number in range(1, 4):
                if number > 1:
                    await asyncio.sleep(EVENT_GAP_SECONDS)
                yield f"data: event {number}\n\n".encode()

        return StreamingResponse(three_events(), media_type="text/event-stream")

    return app


def main(arguments: list[str]) -> None:
    """Serves the echo app until SIGTERM or SIGINT."""
    data_dir, port, graceful_seconds = Path(arguments[0]), int(arguments[1]), float(arguments[2])
    certfile, keyfile = ensure_certificate(data_dir)
    config = hypercorn_config(
        "127.0.0.1", port, certfile, keyfile, graceful_seconds=graceful_seconds
    )
    run_server(echo_app(), config, on_ready=lambda: print(READY_LINE, flush=True))


if __name__ == "__main__":
    main(sys.argv[1:])
