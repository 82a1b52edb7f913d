"""What a result is about: machine, date, mode, versions, commits, the command. Recorded at
the start of a run (so a re-rendered report still names the run's machine) and printed
atop the report."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from benchlib.builds import Subject
from benchlib.config import Mode

PACKAGES = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy",
            "aiosqlite", "asyncpg", "pyjwt", "argon2-cffi"]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def server_commit(repo: Path) -> str:
    """run.sh --head names the snapshot it installed; otherwise ask git (read-only)."""
    if os.environ.get("BENCH_SERVER_COMMIT"):
        return os.environ["BENCH_SERVER_COMMIT"] + _code(repo)
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "app", "migrations"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return commit + (" + uncommitted changes in app/ or migrations/" if dirty else " (working tree)") + _code(repo)


def _code(repo: Path) -> str:
    """The commit that last changed the server's code, as of HEAD: a table measured on a
    branch that only touched bench/ names the code it measured."""
    last = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h", "HEAD", "--", "app", "migrations",
                           "pyproject.toml"], capture_output=True, text=True).stdout.strip()
    return f"; app/, migrations/ and pyproject.toml last changed in {last}" if last else ""


def collect(mode: Mode, repo: Path, subjects: list[Subject], command: str) -> dict[str, object]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    builds = {s.name: s.commit for s in subjects if s.name} or {"": server_commit(repo)}
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
        "mode": mode.name, "reps": mode.reps, "duration": mode.duration, "warmup": mode.warmup,
        "builds": builds, "command": command, "versions": versions,
    }


def describe(info: dict[str, Any]) -> str:
    if not info:
        return ""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    builds = ", ".join(f"{k} = {v}" if k else str(v) for k, v in info["builds"].items())
    return (f"Command: `{info['command']}`\n\n"
            f"Server: {builds}. {info['date']}; {info['mode']} mode: {info['reps']} interleaved reps of "
            f"{info['duration']} s (after {info['warmup']} s warm-up) per configuration. Machine: "
            f"{info['nproc']} cores, {info['cpu']}, shared; servers pinned to core 0, wrk to core 1. "
            f"Python {info['python']}; {versions}.")
