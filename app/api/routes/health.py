"""Liveness and readiness for orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import ServicesDep
from app.api.errors import RETRY_AFTER_UNAVAILABLE, database_unavailable
from app.api.schemas import Health, error_responses
from app.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=error_responses(503))
async def readyz(services: ServicesDep) -> JSONResponse:
    timeout = services.settings.db_connect_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        return JSONResponse(
            {"status": "unavailable", "error": "temporarily_unavailable"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=Response, responses=error_responses(503))
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format: requests by route and status, latencies, token events by
    kind, active sessions. Aggregated over workers under `serve --workers N`."""
    try:
        active: int | None = await services.session_admin.count_live(services.clock.now())
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        active = None  # the scrape still reports what the process knows
    body, content_type = render(active)
    return Response(body, media_type=content_type)
