"""One run: the selected rows for the given builds of the server, then the report.
Shared by `python -m benchlib` (the build installed in the bench venv) and ab.py (two
revisions). Raw records, server logs and scratch SQLite files go to
results/raw/<timestamp>-<mode>/, with the run's results.md.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import db, environment, phase_login, phase_protected, phase_refresh, phase_rss, report
from benchlib.builds import REPO, Subject
from benchlib.config import Mode
from benchlib.runner import Recorder

ROWS = phase_refresh.ROWS + phase_protected.ROWS + phase_login.ROWS + phase_rss.ROWS


def selector(spec: str) -> Callable[[str], bool]:
    """Comma-separated row ids or prefixes of them: `refresh` is every refresh row,
    `refresh-pg` both PostgreSQL ones, `protected-EdDSA` that row alone."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    unknown = [p for p in parts if not any(r == p or r.startswith(p + "-") for r in ROWS)]
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(unknown)} (rows: {', '.join(ROWS)})")
    return lambda row: any(row == p or row.startswith(p + "-") for p in parts)


def run(subjects: list[Subject], mode: Mode, wanted: Callable[[str], bool], results: Path, command: str) -> Path:
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: run bench/run.sh, which installs it")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = results / "raw" / f"{stamp}-{mode.name}"
    os.environ.pop("DATABASE_URL", None)  # each server gets its own, explicitly
    rec = Recorder(raw)
    rec.extra("run", environment.collect(mode, REPO, subjects, command))
    has_pg = any(wanted(r) for r in ROWS if "-pg-" in r) and db.pg_available()
    steps: list[tuple[str, Callable[[Path], None]]] = [
        ("protected", lambda w: phase_protected.bench(w, mode, rec, subjects, wanted)),
        ("refresh", lambda w: phase_refresh.bench(w, mode, rec, subjects, wanted, has_pg)),
        ("login", lambda w: phase_login.bench(w, mode, rec, subjects, wanted)),
        ("rss", lambda w: phase_rss.bench(w, mode, rec, subjects, wanted)),
    ]
    try:
        for name, step in steps:
            if not any(wanted(r) for r in ROWS if r.split("-")[0] == name):
                continue
            started = time.monotonic()
            (raw / name).mkdir(exist_ok=True)
            try:
                step(raw / name)
            except Exception as exc:  # report what was measured even if a phase breaks
                rec.note(f"phase {name} failed: {exc}")
            print(f"== {name} done in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        db.drop_all()
        for f in raw.rglob("*.db*"):  # scratch SQLite databases: large and of no further use
            f.unlink()
    return report.write(raw)
