"""Upper bounds for the /protected row, in the same run as the ceiling: what a bare
FastAPI route reaches with the least any authenticated route of ours must add. Built
with FastAPI configured as our server configures it (its OpenTelemetry instrumentation
off when nothing is configured: app/api/telemetry.py), so they are bounds for our
server, not for the ceiling's default FastAPI.

- `bound_dep`: the ceiling's route with one FastAPI dependency that does nothing. Any
  route enforcing a token through a FastAPI dependency (the contract's
  `access_token_required`) pays at least this.
- `bound_ops`: the same, plus what issue 7 requires on every request: the server's own
  request middleware (JSON log line to stderr through the server's logging set-up,
  Prometheus counter and histogram, X-Request-ID). No token, no session, no database.

If `bound_ops` sits below 0.9× of the ceiling, our /protected (which needs both) cannot
reach 0.9× on this FastAPI; the gap between it and our /protected is what our
authentication itself costs.
"""

import os

from fastapi import Depends, FastAPI

from app.api.telemetry import fastapi_telemetry


async def nothing() -> int:
    return 1


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def protected(user_id: int = Depends(nothing)) -> dict[str, object]:
    return {"message": "Hello, bench", "user_id": user_id, "session_id": "0" * 32}


def build(variant: str) -> FastAPI:
    """`dep` or `ops` (also used in-process by bench/asgi_decompose.py)."""
    bound = FastAPI(**fastapi_telemetry())
    if variant == "ops":
        from app.api.observability import RequestLog
        from app.logs import configure_logging

        # as `serve` does: JSON lines to stderr, at LOG_LEVEL (BENCH_LOG_LEVEL for this app alone)
        configure_logging(os.environ.get("BENCH_LOG_LEVEL") or os.environ.get("LOG_LEVEL", "INFO"))
        bound.add_middleware(RequestLog)
    bound.get("/healthz")(healthz)
    bound.get("/protected")(protected)
    return bound


app = build(os.environ.get("BENCH_BOUND", "dep"))
