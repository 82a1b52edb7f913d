"""FastAPI's own OpenTelemetry instrumentation, on only where something can use it.

FastAPI (0.16x) asks on every request whether an OpenTelemetry provider is configured:
three provider lookups, each reading the environment, ~11 µs of a bare route's ~75 µs
in-process on a 2-core machine (bench/README.md). In a default deployment nothing is
configured (the server's own metrics are Prometheus, its logs JSON lines), so the answer
is always no. With `TELEMETRY=auto` (the default) it is switched off when the app is
built if nothing could make it yes by then: no provider configured (`opentelemetry-
instrument` and code that runs first configure theirs before the server builds its app)
and FastAPI not asked to configure one itself at start-up (`FASTAPI_OTEL_AUTO_CONFIGURE`,
unless `OTEL_SDK_DISABLED`). A provider set later (after a fork, say) needs
`TELEMETRY=on`: FastAPI's default, which asks on every request. The app logs one line
when `auto` switches it off, so that choice is never silent.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

from fastapi import FastAPI

log = logging.getLogger("app.telemetry")

# Python's OpenTelemetry API has no "is configured" query: until a provider is set, the
# global one is one of these deferred proxies (the test FastAPI itself uses).
_DEFERRED = frozenset({
    ("opentelemetry.trace", "ProxyTracerProvider"),
    ("opentelemetry.metrics._internal", "_ProxyMeterProvider"),
    ("opentelemetry._logs._internal", "ProxyLoggerProvider"),
})
OFF: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}


def fastapi_telemetry(mode: str = "auto") -> dict[str, Any]:
    """Keyword arguments for FastAPI(): `telemetry` switched off, or nothing (FastAPI's
    defaults; also on a FastAPI too old to have the parameter)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters or mode == "on":
        return {}
    if mode == "off":
        return {"telemetry": dict(OFF)}
    if _env_true("FASTAPI_OTEL_AUTO_CONFIGURE") and not _env_true("OTEL_SDK_DISABLED"):
        return {}  # FastAPI configures providers in its lifespan, after this
    if any(_configured(provider) for provider in _providers()):
        return {}
    log.info("FastAPI's OpenTelemetry instrumentation is off: no provider is configured "
             "(TELEMETRY=on keeps it for one configured later)")
    return {"telemetry": dict(OFF)}


def _env_true(name: str) -> bool:
    return os.getenv(name, "").lower() == "true"  # as FastAPI and the SDK read them


def _providers() -> list[Any]:
    from opentelemetry import _logs, metrics, trace

    return [trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()]


def _configured(provider: Any) -> bool:
    """Set, and able to record: FastAPI itself records nothing through a no-op provider."""
    from opentelemetry import _logs, metrics, trace

    cls = type(provider)
    if (cls.__module__, cls.__name__) in _DEFERRED:
        return False
    return not isinstance(provider, (trace.NoOpTracerProvider, metrics.NoOpMeterProvider, _logs.NoOpLoggerProvider))
