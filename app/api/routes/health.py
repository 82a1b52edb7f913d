"""Liveness and readiness for orchestrators."""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import ServicesDep
from app.api.errors import RETRY_AFTER_UNAVAILABLE, database_unavailable
from app.api.schemas import Health, error_responses
from app.api.params import bearer_token
from app.errors import InvalidToken, MissingToken
from app.metrics import render

COUNT_TTL = timedelta(seconds=15)  # a scrape every few seconds costs one COUNT per TTL, not one each

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


@router.get("/metrics", response_class=Response, responses=error_responses(401, 503) | {404: {"description": "Off: production without METRICS_TOKEN."}})
async def metrics(services: ServicesDep, request: Request) -> Response:
    """Prometheus text format: requests by route and status, latencies, token events by
    kind, active sessions. Aggregated over workers under `serve --workers N`. With
    METRICS_TOKEN it needs that bearer token; without it, production answers 404 (the
    counters name routes and event rates an outsider should not read) and development
    answers anyone. The active-session count is read at most once per COUNT_TTL."""
    expected = services.settings.metrics_token
    if expected is None and services.settings.app_env == "production":
        return Response(b'{"error":"not_found"}', status_code=404, media_type="application/json")
    if expected is not None:
        given = bearer_token(request)
        if given is None:
            raise MissingToken()
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise InvalidToken("The metrics token is invalid.")
    body, content_type = render(await _active_sessions(services, request))
    return Response(body, media_type=content_type)


async def _active_sessions(services: ServicesDep, request: Request) -> int | None:
    now: datetime = services.clock.now()
    cached: tuple[datetime, int] | None = getattr(request.app.state, "active_sessions", None)
    if cached is not None and now - cached[0] < COUNT_TTL:
        return cached[1]
    try:
        active = await services.session_admin.count_live(now)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        return None  # the scrape still reports what the process knows
    request.app.state.active_sessions = (now, active)
    return active
