"""The "no growth" check: one worker's RSS after rss_small and after rss_large requests
to /protected (the hot path), sampled between wrk chunks so no sample races a request.
A leak per request shows as growth between the two; warm-up allocation (caches, pools,
lazily imported modules) is already done by the first sample."""

from __future__ import annotations

import time
from pathlib import Path

from benchlib import servers, wrk
from benchlib.config import PROTECTED_CONNECTIONS, Mode
from benchlib.procs import rss_bytes
from benchlib.runner import Recorder

MB = 1024 * 1024


def bench(work: Path, mode: Mode, rec: Recorder) -> None:
    d = work / "rss"
    server = servers.ours("rss", d, f"sqlite:///{d}/auth.db")
    server.start()
    try:
        token = servers.access_token(server)
        plain = wrk.write_script(work / "plain.lua")
        worker = server.workers()[0]
        done, samples = 0, []
        chunk = 2 if mode.name == "quick" else 5
        deadline = time.monotonic() + mode.rss_cap_seconds
        while done < mode.rss_large and time.monotonic() < deadline:
            result = wrk.run(server.base + "/protected", seconds=chunk, connections=PROTECTED_CONNECTIONS,
                             script=plain, headers={"Authorization": f"Bearer {token}"})
            done += result.requests
            samples.append((done, rss_bytes(worker)))
        first = next(((n, r) for n, r in samples if n >= mode.rss_small), samples[0])
        last = samples[-1]
        growth = (last[1] - first[1]) / first[1] * 100
        report = {"first_requests": first[0], "first_mb": first[1] / MB, "last_requests": last[0],
                  "last_mb": last[1] / MB, "growth_pct": growth, "target_requests": mode.rss_large,
                  "samples": [(n, round(r / MB, 2)) for n, r in samples]}
        rec.extra("rss", report)
        print(f"  RSS {first[1] / MB:.1f} MB after {first[0]:,} requests, {last[1] / MB:.1f} MB after "
              f"{last[0]:,}: {growth:+.1f}%", flush=True)
        if last[0] < mode.rss_large:
            rec.note(f"RSS check stopped at {last[0]:,} requests (time cap {mode.rss_cap_seconds}s)")
    finally:
        server.stop()
