"""``/healthz``, ``/readyz`` and ``/metrics`` (no token needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from api.problems import PROBLEM_JSON, problem_body
from api.services import Services, services_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


def _checks(services: Services) -> dict[str, str]:
    results: dict[str, str] = {}
    tiffin = services.tiffin

    def check(name: str, probe: Any) -> None:
        try:
            probe()
            results[name] = "ok"
        except Exception as error:  # the report names what failed; nothing is raised
            results[name] = f"failed: {type(error).__name__}"

    check("event_store", lambda: [a.recorder.max_notification_id() for a in tiffin.apps()])
    check("views", lambda: _select_one(services))
    if services.settings.redis_url is not None:
        check("redis", lambda: tiffin.redis.ping() if tiffin.redis else None)
    results["kafka"] = "off" if services.settings.kafka_bootstrap_servers is None else "unchecked"
    return results


def _select_one(services: Services) -> None:
    with services.reads.transaction() as run:
        run("SELECT 1", ()).fetchone()


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """200 when the event store, the views and Redis (if configured) answer; else 503 naming
    what failed."""
    checks = await run_in_threadpool(_checks, services_of(request))
    failed = sorted(name for name, result in checks.items() if result.startswith("failed"))
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    body = {**problem_body(503, f"not ready: {', '.join(failed)}"), "checks": checks}
    return JSONResponse(body, 503, {"Retry-After": "1"}, media_type=PROBLEM_JSON)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text: requests by route, method and status and their latency, the
    projections' lag and positions, and this process's counters."""
    services = services_of(request)
    own = await run_in_threadpool(generate_latest, services.registry)
    shared = generate_latest(REGISTRY)
    return Response(own + shared, media_type=CONTENT_TYPE_LATEST)
