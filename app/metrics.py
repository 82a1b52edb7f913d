"""Prometheus metrics, observed with prometheus-client's public API. Under
`serve --workers N` every worker writes to PROMETHEUS_MULTIPROC_DIR (set by the CLI)
and /metrics aggregates them, so a scrape sees the whole server, not whichever worker
answered."""

from __future__ import annotations

import os

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


_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, duration: float) -> None:
    """One finished request (app.api.observability): `route` is the template, so the
    label values stay bounded. The labelled series are looked up once per label values
    and kept (`labels()` validates and locks on every call)."""
    series = _series.get((method, route, status))
    if series is None:
        series = _series[(method, route, status)] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(route))
    series[0].inc()
    series[1].observe(duration)


def count_event(event: str) -> None:
    TOKEN_EVENTS.labels(event).inc()


def render(active_sessions: int | None) -> tuple[bytes, str]:
    if active_sessions is not None:
        ACTIVE_SESSIONS.set(active_sessions)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
