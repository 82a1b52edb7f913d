"""FastAPI's own OpenTelemetry instrumentation, through its documented `telemetry`
setting only.

`TELEMETRY=auto` (the default) and `on` leave it as FastAPI documents it: it records
server spans, metrics and logs whenever an OpenTelemetry provider is configured (before
or after start-up, e.g. under `opentelemetry-instrument`), or configures one itself when
`FASTAPI_OTEL_AUTO_CONFIGURE=true`; with no provider it records nothing. `off` switches
it off with `FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})`,
so FastAPI does not even look for a provider on each request.

`auto` does not guess whether a provider is configured: OpenTelemetry's Python API has
no public query for that, and the server reads no private names.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

OFF: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}


def fastapi_telemetry(mode: str = "auto") -> dict[str, Any]:
    """Keyword arguments for FastAPI(): `telemetry` switched off for `off`, else nothing
    (FastAPI's defaults). A FastAPI without the setting has no instrumentation of its
    own to switch off."""
    if mode != "off" or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": dict(OFF)}
