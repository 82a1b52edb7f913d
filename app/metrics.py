"""Prometheus metrics. Under `serve --workers N` every worker writes to
PROMETHEUS_MULTIPROC_DIR (set by the CLI) and /metrics aggregates them, so a scrape
sees the whole server, not whichever worker answered."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("authserver_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "authserver_http_request_duration_seconds", "HTTP request latency", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TOKEN_EVENTS = Counter(
    "authserver_token_events_total",
    "Token lifecycle and security events by kind (issued, refreshed, reuse, logout, ...)",
    ["event"],
)
ACTIVE_SESSIONS = Gauge(
    "authserver_active_sessions", "Live sessions (read from the database at scrape time)",
    multiprocess_mode="max",
)


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labels() resolved once per combination


def observe_request(method: str, route: str, status: int, duration: float) -> None:
    """On every request: the labelled children are looked up once and kept (the
    combinations are bounded: known methods, route templates, status codes)."""
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(route))
    children[0].inc()
    children[1].observe(duration)


_event_children: dict[str, Any] = {}


def count_event(event: str) -> None:
    child = _event_children.get(event)
    if child is None:
        child = _event_children[event] = TOKEN_EVENTS.labels(event)
    child.inc()


def render(active_sessions: int | None) -> tuple[bytes, str]:
    if active_sessions is not None:
        ACTIVE_SESSIONS.set(active_sessions)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
