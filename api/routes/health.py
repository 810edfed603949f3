"""``/healthz``, ``/readyz`` and ``/metrics`` (no token needed)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from api.dependencies import Probe, Probes, Registry
from api.problems import PROBLEM_JSON, problem_body

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


def _checks(probes: Mapping[str, Probe]) -> dict[str, str]:
    """Each probe's report: ``ok``, what it said, or ``failed: <error>`` (nothing is raised)."""
    results: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            results[name] = probe() or "ok"
        except Exception as error:  # the report names what failed
            results[name] = f"failed: {type(error).__name__}"
    return results


@router.get("/readyz")
async def readyz(probes: Probes) -> Response:
    """200 when the event store, the views and Redis (if configured) answer; else 503 naming
    what failed."""
    checks = await run_in_threadpool(_checks, probes)
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
