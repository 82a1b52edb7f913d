"""app.metrics.RequestTally: the request metrics are counted in plain Python and folded
into prometheus-client once per loop iteration. A scrape must read exactly what
observing each request directly would have written."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import _LATENCY_BUCKETS, LATENCY, RequestTally

# On the bounds, between them, past the last one, zero: every branch of bucket choice.
DURATIONS = [0.0, 0.0004, 0.001, 0.0010001, 0.0025, 0.004, 0.005, 0.02, 0.05, 0.3, 1.0, 2.5, 7.0, 10.0, 11.0, 99.0]
KEYS = [("GET", "/protected", 200), ("GET", "/protected", 401), ("POST", "/user/oauth/token", 200),
        ("GET", "unmatched", 404)]


def pair(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    return (Counter("t_requests_total", "r", ["method", "route", "status"], registry=registry),
            Histogram("t_latency_seconds", "l", ["route"], buckets=_LATENCY_BUCKETS, registry=registry))


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if not s.name.endswith("_created")}


def observations(n: int = 4) -> list[tuple[tuple[str, str, int], float]]:
    return [(KEYS[i % len(KEYS)], d) for i in range(n) for d in DURATIONS for _ in range(i + 1)]


def test_the_buckets_are_the_histograms_own() -> None:
    assert tuple(LATENCY._upper_bounds[:-1]) == _LATENCY_BUCKETS  # type: ignore[attr-defined]


async def test_a_fold_renders_what_direct_observations_render() -> None:
    folded, direct = CollectorRegistry(), CollectorRegistry()
    tally = RequestTally(*pair(folded), _LATENCY_BUCKETS)
    requests, latency = pair(direct)
    for (method, route, status), duration in observations():
        tally.observe((method, route, status), duration)
        requests.labels(method, route, str(status)).inc()
        latency.labels(route).observe(duration)
    tally.fold()
    got, want = samples(folded), samples(direct)
    assert got.keys() == want.keys() and len(want) == 4 + 3 * (14 + 2)  # 4 counters, 3 routes
    for key, value in want.items():
        if key[0].endswith("_sum"):  # summed in another order: equal to the last bits or so
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key


async def test_requests_are_folded_by_the_next_loop_iteration() -> None:
    registry = CollectorRegistry()
    tally = RequestTally(*pair(registry), _LATENCY_BUCKETS)
    for _ in range(5):
        tally.observe(("GET", "/protected", 200), 0.002)
    count = ("t_requests_total", (("method", "GET"), ("route", "/protected"), ("status", "200")))
    assert samples(registry)[count] == 0  # counted, not yet folded: one fold for the five
    await asyncio.sleep(0)
    assert samples(registry)[count] == 5
    bucket = ("t_latency_seconds_bucket", (("le", "0.0025"), ("route", "/protected")))
    assert samples(registry)[bucket] == 5
    tally.observe(("GET", "/protected", 200), 0.002)
    await asyncio.sleep(0)
    assert samples(registry)[count] == 6


def test_counts_left_by_a_stopped_loop_are_folded_by_the_next() -> None:
    registry = CollectorRegistry()
    tally = RequestTally(*pair(registry), _LATENCY_BUCKETS)
    healthz = ("t_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))

    def three() -> None:
        for _ in range(3):
            tally.observe(("GET", "/healthz", 200), 0.0001)

    loop = asyncio.new_event_loop()
    loop.call_soon(three)
    loop.call_soon(loop.stop)  # stops in the iteration that counted: its fold never runs
    loop.run_forever()
    loop.close()
    assert samples(registry)[healthz] == 0

    async def one_more() -> None:
        tally.observe(("GET", "/healthz", 200), 0.0001)
        await asyncio.sleep(0)

    asyncio.run(one_more())  # the next loop's fold takes the three as well
    assert samples(registry)[healthz] == 4
    tally.observe(("GET", "/healthz", 200), 0.0001)  # no loop at all: folded at once
    assert samples(registry)[healthz] == 5


def test_loops_in_several_threads_lose_no_count() -> None:
    registry = CollectorRegistry()
    tally = RequestTally(*pair(registry), _LATENCY_BUCKETS)
    per_thread, threads = 20_000, 4
    start = threading.Barrier(threads)

    async def serve() -> None:
        start.wait()
        for i in range(per_thread):
            tally.observe(("GET", "/protected", 200), 0.001 * (i % 7))
            if i % 50 == 0:
                await asyncio.sleep(0)  # as a loop would, between batches of requests

    workers = [threading.Thread(target=asyncio.run, args=(serve(),)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    got = samples(registry)
    assert got[("t_requests_total", (("method", "GET"), ("route", "/protected"), ("status", "200")))] == per_thread * threads
    assert got[("t_latency_seconds_count", (("route", "/protected"),))] == per_thread * threads


class _Child:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def inc(self, amount: float = 1) -> None:
        self.calls.append(("inc", amount))

    def observe(self, amount: float) -> None:
        self.calls.append(("observe", amount))


class _Parent:
    def __init__(self) -> None:
        self.child = _Child()

    def labels(self, *values: str) -> _Child:
        return self.child


def test_a_histogram_without_the_fields_a_fold_needs_is_observed_directly() -> None:
    requests, latency = _Parent(), _Parent()
    tally = RequestTally(requests, latency, _LATENCY_BUCKETS)  # type: ignore[arg-type]
    tally.observe(("GET", "/protected", 200), 0.004)
    tally.observe(("GET", "/protected", 200), 0.006)
    assert requests.child.calls == [("inc", 1), ("inc", 1)]
    assert latency.child.calls == [("observe", 0.004), ("observe", 0.006)]
