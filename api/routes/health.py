"""``/healthz``, ``/readyz`` and ``/metrics`` (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from api.dependencies import Probes, Registry
from api.problems import PROBLEM_JSON, problem_body
from api.readiness import run_checks

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(probes: Probes) -> Response:
    """200 when the event store, the views and Redis (if configured) answer; else 503 naming
    what failed."""
    checks = await run_in_threadpool(run_checks, probes)
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
async def metrics(registry: Registry) -> Response:
    """Prometheus text: requests by route, method and status and their latency, the
    projections' lag and positions, and this process's counters."""
    own = await run_in_threadpool(generate_latest, registry)
    shared = generate_latest(REGISTRY)
    return Response(own + shared, media_type=CONTENT_TYPE_LATEST)
