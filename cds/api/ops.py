"""Operational endpoints: liveness, readiness and Prometheus metrics.

``/healthz`` answers as long as the process serves HTTP (liveness: restart me if not).
``/readyz`` answers 200 only when the knowledge base is loaded and the feedback store answers
(readiness: send me traffic); otherwise 503 with an OperationOutcome saying what is missing.
``/metrics`` is the Prometheus text exposition; expose it only inside the cluster.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cds.errors import operation_outcome
from cds.observability import render_metrics

router = APIRouter(tags=["operations"])

FHIR_JSON = "application/fhir+json"


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: knowledge base loaded and feedback store reachable",
    responses={503: {"description": "Not ready (OperationOutcome)"}},
)
async def readyz(request: Request) -> Response:
    state = request.app.state
    problems: list[str] = []
    if getattr(state, "knowledge", None) is None:
        problems.append("knowledge base not loaded")
    store: Any = getattr(state, "store", None)
    if store is None:
        problems.append("feedback store not configured")
    elif not await run_in_threadpool(store.ping):  # ping does blocking I/O, with its own short timeout
        problems.append("feedback store unreachable")
    service: Any = getattr(state, "service", None)
    starved = service.fetcher.saturation() if service is not None else None
    if starved:
        problems.append(starved)
    if problems:
        return JSONResponse(
            operation_outcome("; ".join(problems), code="transient"),
            status_code=503,
            media_type=FHIR_JSON,
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(content=body, media_type=content_type)
