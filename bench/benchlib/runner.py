"""Samples, rows, the interleaving loop and the record of every run.

Interleaving (rep 1: A B C, rep 2: B C A, ...) spreads slow phases of a noisy machine over
every configuration of a group instead of punishing whichever ran during them; the report
then pairs each configuration with its reference *from the same rep* before taking the
median, so a ratio is always between two runs made seconds apart.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchlib import wrk
from benchlib.config import Mode
from benchlib.procs import Server, cpu_by_pid, cpu_delta


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None  # server CPU (all its processes) per request
    errors: int
    requests: int
    db_cpu_us: float | None = None  # PostgreSQL backends' CPU per request, where known


@dataclass
class RowSpec:
    """One line of the results table: the configuration `key` against the configuration
    `reference`, compared on `metric`: throughput (rps: higher is better) or a latency
    (p50, p99: lower is better). A spec without reference describes a reference."""

    row: str  # the row's id (--rows), e.g. refresh-pg-1w
    key: str
    label: str
    reference: str | None = None
    metric: str = "rps"
    target: float | None = None  # ratio bound: ">=" for rps, "<=" for latencies
    subject: str = ""  # which build of the server (ab.py: base, head)


@dataclass
class Config:
    key: str
    measure: Callable[[Mode], Sample]


@dataclass
class Recorder:
    raw: Path
    specs: list[RowSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.raw.mkdir(parents=True, exist_ok=True)
        self._save_meta()

    def spec(self, *specs: RowSpec) -> None:
        self.specs.extend(specs)
        self._save_meta()

    def note(self, text: str) -> None:
        print(f"note: {text}", flush=True)
        self.notes.append(text)
        self._save_meta()

    def add(self, key: str, rep: int, sample: Sample) -> None:
        with open(self.raw / "runs.jsonl", "a") as f:
            f.write(json.dumps({"key": key, "rep": rep, **asdict(sample)}) + "\n")

    def extra(self, name: str, value: object) -> None:
        path = self.raw / "extra.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = value
        path.write_text(json.dumps(data, indent=1))

    def _save_meta(self) -> None:
        meta = {"specs": [asdict(s) for s in self.specs], "notes": self.notes}
        (self.raw / "meta.json").write_text(json.dumps(meta, indent=1))


def interleave(configs: list[Config], mode: Mode, rec: Recorder) -> None:
    for rep in range(mode.reps):
        shift = rep % len(configs) if configs else 0
        for cfg in configs[shift:] + configs[:shift]:
            started = time.monotonic()
            try:
                sample = cfg.measure(mode)
            except Exception as exc:  # one broken configuration must not end the whole run
                traceback.print_exc()
                rec.note(f"{cfg.key} rep {rep + 1} failed: {exc}")
                continue
            rec.add(cfg.key, rep, sample)
            print(f"  rep {rep + 1} {cfg.key:<32} {sample.rps:9.1f} req/s  p50 {sample.p50_ms:8.2f} ms"
                  f"  p99 {sample.p99_ms:8.2f} ms  cpu {sample.cpu_us or 0:8.0f} us/req  err {sample.errors}"
                  f"  ({time.monotonic() - started:.0f}s)", flush=True)


def wrk_measure(server: Server, path: str, script_fn: Callable[[], Path], *, connections: int,
                headers: dict[str, str] | None = None, db_url: str | None = None,
                timeout_s: int = 10) -> Callable[[Mode], Sample]:
    """Warm up, then one measured wrk run, with the server's CPU read around it (and the
    PostgreSQL backends' CPU when db_url is given). script_fn is called before each wrk
    run, so a refresh script can pick up the tokens the previous run left."""

    def measure(mode: Mode) -> Sample:
        url = server.base + path
        if mode.warmup:
            wrk.run(url, seconds=mode.warmup, connections=connections, script=script_fn(),
                    headers=headers, timeout_s=timeout_s)
        from benchlib.db import backend_pids  # PostgreSQL configurations only
        db_pids = backend_pids(db_url) if db_url else []
        script = script_fn()
        cpu0, db0 = server.cpu(), cpu_by_pid(db_pids)
        result = wrk.run(url, seconds=mode.duration, connections=connections, script=script,
                         headers=headers, timeout_s=timeout_s)
        cpu1, db1 = server.cpu(), cpu_by_pid(db_pids)
        return sample_of(result, cpu1 - cpu0, cpu_delta(db0, db1) if db_url else None)

    return measure


def sample_of(result: wrk.WrkResult, cpu_s: float, db_cpu_s: float | None = None) -> Sample:
    n = max(1, result.requests)
    return Sample(
        rps=result.rps, p50_ms=result.p50_ms, p99_ms=result.p99_ms, cpu_us=cpu_s / n * 1e6,
        errors=result.errors, requests=result.requests,
        db_cpu_us=None if db_cpu_s is None else db_cpu_s / n * 1e6,
    )
