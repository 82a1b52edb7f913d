"""python -m benchlib [--quick] [--phases a,b,...]: run the phases, then write the report.

Run through bench/run.sh, which prepares the bench venv and wrk first. Raw records, server
logs and scratch SQLite files go to results/raw/<timestamp>/; results.md, chart.png and
profiles.md to results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import shutil
import time
from pathlib import Path

from benchlib import (db, environment, phase_login, phase_profile, phase_protected, phase_refresh,
                      phase_rss, report)
from benchlib.config import FULL, QUICK
from benchlib.runner import Recorder

BENCH = Path(__file__).resolve().parents[1]
PHASES = ["protected", "refresh", "sessions", "login", "rss", "profile"]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchlib")
    p.add_argument("--quick", action="store_true", help="short runs, to try the harness (minutes)")
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    p.add_argument("--results", type=Path, default=BENCH / "results")
    p.add_argument("--reps", type=int, help="interleaved reps per configuration (default: the mode's)")
    args = p.parse_args()
    mode = QUICK if args.quick else FULL
    if args.reps:
        mode = dataclasses.replace(mode, reps=args.reps)  # more reps where a run's spread is too wide
    phases = [x for x in args.phases.split(",") if x]
    unknown = set(phases) - set(PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")
    for tool in ("wrk", "taskset", "py-spy"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: run bench/run.sh, which installs it")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = args.results / "raw" / f"{stamp}-{mode.name}"
    raw.mkdir(parents=True)
    os.environ.pop("DATABASE_URL", None)  # each server gets its own, explicitly
    rec = Recorder(raw)
    rec.extra("run", environment.collect(mode, BENCH.parent))
    has_pg = db.pg_available()
    if has_pg:
        db.drop_all()  # leftovers of an interrupted run
    else:
        rec.note(f"PostgreSQL not reachable at {db.PG_ADMIN}: its configurations were skipped")
    backends = ["sqlite", "pg"] if has_pg else ["sqlite"]

    steps = {
        "protected": lambda: phase_protected.bench(raw / "protected", mode, rec),
        "refresh": lambda: phase_refresh.bench(raw / "refresh", mode, rec, backends),
        "sessions": lambda: phase_refresh.bench_sessions(raw / "sessions", mode, rec, backends),
        "login": lambda: phase_login.bench(raw / "login", mode, rec),
        "rss": lambda: phase_rss.bench(raw / "rss", mode, rec),
        "profile": lambda: phase_profile.bench(raw / "profile", mode, rec, args.results, has_pg),
    }
    try:
        for name in phases:
            (raw / name).mkdir(exist_ok=True)
            started = time.monotonic()
            print(f"== {name} ({mode.name} mode)", flush=True)
            try:
                steps[name]()
            except Exception as exc:  # report what was measured even if a phase breaks
                rec.note(f"phase {name} failed: {exc}")
            print(f"== {name} done in {time.monotonic() - started:.0f}s", flush=True)
    finally:
        if has_pg:
            db.drop_all()
        for f in raw.rglob("*.db*"):  # scratch SQLite databases: large and of no further use
            f.unlink()
    print(f"report: {report.write(raw, args.results)}")


if __name__ == "__main__":
    main()
