"""The rss row: one worker's RSS after rss_small and after rss_large requests to
/protected (HS256, SQLite, logging as shipped), sampled between wrk chunks so no sample
races a request. A leak per request shows as growth between the two; warm-up allocation
(caches, pools, lazily imported modules) is done by the first sample. With several
builds (ab.py), their chunks alternate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import servers, wrk
from benchlib.builds import Subject
from benchlib.config import PROTECTED_CONNECTIONS, Mode
from benchlib.procs import Server, rss_bytes
from benchlib.runner import Recorder

ROWS = ["rss"]
TARGET_PCT = 10.0
MB = 1024 * 1024


def bench(work: Path, mode: Mode, rec: Recorder, subjects: list[Subject], wanted: Callable[[str], bool]) -> None:
    if not wanted("rss"):
        return
    plain = wrk.write_script(work / "plain.lua")
    started: list[Server] = []
    try:
        state: list[tuple[Subject, Server, dict[str, str], int, list[tuple[int, int]]]] = []
        for subject in subjects:
            key = subject.key("rss")
            server = servers.ours(key, work / key, f"sqlite:///{work / key}/auth.db", python=subject.python)
            started.append(server)
            server.start()
            headers = {"Authorization": f"Bearer {servers.access_token(server)}"}
            state.append((subject, server, headers, server.workers()[0], []))
        print("== rss", flush=True)
        chunk = 2 if "quick" in mode.name else 5
        deadline = time.monotonic() + mode.rss_cap_seconds
        while time.monotonic() < deadline and any(not s[4] or s[4][-1][0] < mode.rss_large for s in state):
            for _, server, headers, worker, samples in state:
                done = samples[-1][0] if samples else 0
                if done >= mode.rss_large:
                    continue
                result = wrk.run(server.base + "/protected", seconds=chunk, connections=PROTECTED_CONNECTIONS,
                                 script=plain, headers=headers)
                samples.append((done + result.requests, rss_bytes(worker)))
        reports: dict[str, dict[str, Any]] = {}
        for subject, _, _, _, samples in state:
            reports[subject.name] = report = summary(samples, mode)
            print(f"  {subject.key('rss')}: {report['first_mb']:.1f} MB after {report['first_requests']:,} requests, "
                  f"{report['last_mb']:.1f} MB after {report['last_requests']:,}: {report['growth_pct']:+.1f} %",
                  flush=True)
            if report["last_requests"] < mode.rss_large:
                rec.note(f"{subject.key('rss')}: stopped at {report['last_requests']:,} requests "
                         f"(time cap {mode.rss_cap_seconds} s)")
        rec.extra("rss", reports)
    finally:
        for server in started:
            server.stop()


def summary(samples: list[tuple[int, int]], mode: Mode) -> dict[str, Any]:
    first = next(((n, r) for n, r in samples if n >= mode.rss_small), samples[0])
    last = samples[-1]
    return {"first_requests": first[0], "first_mb": first[1] / MB, "last_requests": last[0],
            "last_mb": last[1] / MB, "growth_pct": (last[1] - first[1]) / first[1] * 100,
            "target_requests": mode.rss_large, "samples": [(n, round(r / MB, 2)) for n, r in samples]}
