"""Prometheus metrics. Under `serve --workers N` every worker writes to
PROMETHEUS_MULTIPROC_DIR (set by the CLI) and /metrics aggregates them, so a scrape
sees the whole server, not whichever worker answered."""

from __future__ import annotations

import asyncio
import math
import os
import threading
from bisect import bisect_left
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
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LATENCY = Histogram(
    "authserver_http_request_duration_seconds", "HTTP request latency", ["route"], buckets=_LATENCY_BUCKETS,
)
TOKEN_EVENTS = Counter(
    "authserver_token_events_total",
    "Token lifecycle and security events by kind (issued, refreshed, reuse, logout, ...)",
    ["event"],
)
Series = tuple[str, str, int]  # a request's method, route template and status: its metrics' labels
_running_loop = asyncio._get_running_loop  # the running loop or None, without get_running_loop's raise

ACTIVE_SESSIONS = Gauge(
    "authserver_active_sessions", "Live sessions (read from the database at scrape time)",
    multiprocess_mode="max",
)


class RequestTally:
    """The per-request metrics (`observe`), kept in plain Python and folded into
    prometheus-client once per event-loop iteration.

    Observing straight into prometheus-client costs a request ~17,000 CPU instructions,
    a sixth of the request middleware and 4 % of a cached /protected (each `inc` takes a
    lock, each `observe` walks the buckets; bench/README.md): here a request adds to a
    dict entry, and the iteration's requests reach the counter and the histogram as one
    `inc` per series and bucket. What a scrape reads is the same: this process folds
    before rendering, and under `--workers` every worker folds within one loop
    iteration of its requests (a scrape served by another worker in that moment sees
    them at the next scrape, as it would a request still in flight).

    Folding a bucket's count needs the histogram child's `_buckets` and `_sum`, which
    prometheus-client does not publish; tests/unit/test_metrics_tally.py checks that a
    fold renders exactly what direct observations render, and where a child lacks them
    requests are observed directly, as before. Counts are kept per thread and folded by
    their own thread (their loop's callback, or the scrape), so loops in two threads
    never share an unlocked entry."""

    def __init__(self, requests: Counter, latency: Histogram, buckets: tuple[float, ...]) -> None:
        self._requests, self._latency = requests, latency
        self._bounds = (*buckets, math.inf)  # as the histogram's own upper bounds
        self._children: dict[Series, tuple[Any, Any]] = {}  # labels() resolved once per combination
        self._bulk = True  # False once a histogram child cannot be folded into
        self._pending = _Pending()

    def observe(self, series: Series, duration: float) -> None:
        """One request of `series` (method, route template, status) that took `duration` s."""
        pending = self._pending
        counts = pending.counts.get(series)
        if counts is None:
            children = self._children.get(series) or self._new_children(series)
            if not self._bulk:
                children[0].inc()
                children[1].observe(duration)
                return
            counts = pending.counts[series] = [0, 0.0] + [0] * len(self._bounds)
        counts[0] += 1
        counts[1] += duration
        counts[2 + bisect_left(self._bounds, duration)] += 1  # the first bound >= duration, as observe() picks
        loop = _running_loop()
        if pending.loop is not loop or loop is None:
            self._schedule(pending, loop)

    def fold(self) -> None:
        """Everything this thread has counted, into prometheus-client."""
        pending = self._pending
        counts, pending.counts, pending.loop = pending.counts, {}, None
        for key, (n, total, *buckets) in counts.items():
            requests, latency = self._children[key]
            requests.inc(n)
            latency._sum.inc(total)
            for bucket, hits in zip(latency._buckets, buckets):
                if hits:
                    bucket.inc(hits)

    def _schedule(self, pending: _Pending, loop: asyncio.AbstractEventLoop | None) -> None:
        """A fold on this loop's next iteration; it takes whatever is pending, also what an
        earlier loop of this thread stopped before folding. No loop: at once."""
        if loop is None:
            self.fold()
            return
        pending.loop = loop
        loop.call_soon(self.fold)

    def _new_children(self, series: Series) -> tuple[Any, Any]:
        method, route, status = series
        children = self._children[series] = (self._requests.labels(method, route, str(status)), self._latency.labels(route))
        buckets = getattr(children[1], "_buckets", None)
        if not (isinstance(buckets, list) and len(buckets) == len(self._bounds) and hasattr(children[1], "_sum")):
            self._bulk = False  # found on the first request, before anything was counted
        return children


class _Pending(threading.local):
    def __init__(self) -> None:
        self.counts: dict[Series, list[Any]] = {}  # [count, sum, per-bucket counts]
        self.loop: asyncio.AbstractEventLoop | None = None  # where a fold is scheduled


REQUEST_TALLY = RequestTally(REQUESTS, LATENCY, _LATENCY_BUCKETS)
observe_request = REQUEST_TALLY.observe  # on every request (app.api.observability)
_event_children: dict[str, Any] = {}


def count_event(event: str) -> None:
    child = _event_children.get(event)
    if child is None:
        child = _event_children[event] = TOKEN_EVENTS.labels(event)
    child.inc()


def render(active_sessions: int | None) -> tuple[bytes, str]:
    REQUEST_TALLY.fold()  # this thread's requests so far (other workers fold on their own)
    if active_sessions is not None:
        ACTIVE_SESSIONS.set(active_sessions)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
