"""Reference scripts (raw-driver floor, hash time) run as processes on the server core,
like a server would, and report latencies and CPU; this turns their reports into the
same Sample a wrk run gives."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from benchlib.config import SERVER_CORE
from benchlib.runner import Sample
from benchlib.servers import PY, BENCH_DIR


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run(argvs: list[list[str]], outs: list[Path], env: dict[str, str] | None = None) -> Sample:
    """Start every script at once (two for the two-worker rows), wait, merge."""
    procs = [subprocess.Popen(["taskset", "-c", SERVER_CORE, PY, "-m", *argv, "--out", str(out)],
                              cwd=BENCH_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for argv, out in zip(argvs, outs)]
    for argv, proc in zip(argvs, procs):
        output, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"{argv[0]} failed: {output[-800:]}")
    reports = [json.loads(out.read_text()) for out in outs]
    lat = [x for r in reports for x in r["latencies"]]
    n = max(1, len(lat))
    duration = reports[0]["duration"]
    return Sample(
        rps=len(lat) / duration, p50_ms=percentile(lat, 50) * 1000, p99_ms=percentile(lat, 99) * 1000,
        cpu_us=sum(r["cpu_s"] for r in reports) / n * 1e6, errors=0, requests=len(lat),
        db_cpu_us=sum(r["db_cpu_s"] for r in reports) / n * 1e6,
    )
