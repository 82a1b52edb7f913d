"""FastAPI's own OpenTelemetry instrumentation, on only where something can use it.

FastAPI (0.16x) asks on every request whether an OpenTelemetry provider is configured:
three provider lookups, each reading the environment, ~8 µs per request on a 2-core
machine — a tenth of a bare route (bench/README.md). In a default deployment nothing is
configured (the server's own metrics are Prometheus, its logs JSON lines), so the answer
is always no. It is switched off when the app is built if nothing could make it yes:
no provider configured by then (`opentelemetry-instrument` and code that runs first both
configure theirs before the server builds its app) and FastAPI not asked to configure
one itself at start-up (`FASTAPI_OTEL_AUTO_CONFIGURE=true`). Otherwise FastAPI keeps its
defaults, and its spans and metrics work as FastAPI documents them.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from fastapi import FastAPI

# Python's OpenTelemetry API has no "is configured" query: until a provider is set, the
# global one is one of these deferred proxies (the test FastAPI itself uses).
_DEFERRED = frozenset({
    ("opentelemetry.trace", "ProxyTracerProvider"),
    ("opentelemetry.metrics._internal", "_ProxyMeterProvider"),
    ("opentelemetry._logs._internal", "ProxyLoggerProvider"),
})
OFF: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}


def fastapi_telemetry() -> dict[str, Any]:
    """Keyword arguments for FastAPI(): `telemetry` switched off, or nothing (FastAPI's
    defaults; also on a FastAPI too old to have the parameter)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").strip().lower() == "true":
        return {}
    if any(_configured(provider) for provider in _providers()):
        return {}
    return {"telemetry": dict(OFF)}


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
