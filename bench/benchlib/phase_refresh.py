"""The refresh rows: `grant_type=refresh_token`, PostgreSQL and SQLite, 1 and 2 workers,
each row one interleaved group of its reference and the server build(s) under test.

- PostgreSQL: the raw-driver floor (benchlib/floor.py, asyncpg, no HTTP), one process
  per worker.
- SQLite: the same transaction with sqlite3 behind a bare FastAPI route
  (apps/floor_http.py), as many uvicorn workers as the server has.

Every refresh request spends a token that was never used: the wrk script rotates chains
started by real password grants (see wrk.REFRESH_LUA); the pool is topped up with more
logins between runs, outside the measured time, whenever it runs low.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchlib import db, pinned, servers, wrk
from benchlib.builds import Subject
from benchlib.config import FLOOR_CONCURRENCY, FLOOR_POOL, REFRESH_CONNECTIONS, REFRESH_POOL_SESSIONS, Mode
from benchlib.procs import Server
from benchlib.runner import Config, Recorder, RowSpec, Sample, interleave, wrk_measure

TOKEN_PATH = "/user/oauth/token"
ROWS = ["refresh-pg-1w", "refresh-pg-2w", "refresh-sqlite-1w", "refresh-sqlite-2w"]
NAMES = {"sqlite": "SQLite", "pg": "PostgreSQL"}
TARGET = 0.80


def refresh_config(key: str, server: Server, work: Path, db_url: str | None = None) -> Config:
    pool = servers.refresh_pool(server, REFRESH_POOL_SESSIONS, work / f"{key}.pool0")
    runs = [0]

    def script() -> Path:
        i = runs[0]
        runs[0] += 1
        source = pool if i == 0 else work / f"{key}.pool{i}"
        left = source.read_text().split()
        if len(left) < 4 * REFRESH_CONNECTIONS:  # chains lost to runs ending mid-request
            extra = servers.refresh_pool(server, REFRESH_POOL_SESSIONS, work / f"{key}.topup")
            source.write_text("\n".join(left + extra.read_text().split()) + "\n")
        return wrk.refresh_script(work / f"{key}.lua", source, work / f"{key}.pool{i + 1}")

    return Config(key, wrk_measure(server, TOKEN_PATH, script, connections=REFRESH_CONNECTIONS, db_url=db_url))


def floor_config(key: str, url: str, procs: int, work: Path) -> Config:
    def measure(mode: Mode) -> Sample:
        argv = ["benchlib.floor", url, "--warmup", str(mode.warmup), "--duration", str(mode.duration),
                "--concurrency", str(FLOOR_CONCURRENCY // procs), "--pool", str(FLOOR_POOL)]
        return pinned.run([argv] * procs, [work / f"{key}.{i}.json" for i in range(procs)])

    return Config(key, measure)


def bench(work: Path, mode: Mode, rec: Recorder, subjects: list[Subject], wanted: Callable[[str], bool],
          has_pg: bool) -> None:
    for row in ROWS:
        if not wanted(row):
            continue
        _, backend, w = row.split("-")
        if backend == "pg" and not has_pg:
            rec.note(f"{row}: PostgreSQL not reachable at {db.PG_ADMIN}, skipped")
            continue
        _group(work / row, mode, rec, subjects, row, backend, int(w[:-1]))


def _url(backend: str, name: str, work: Path) -> str:
    return f"sqlite:///{work / name}.db" if backend == "sqlite" else db.create_pg(name.replace("-", "_"))


def _group(work: Path, mode: Mode, rec: Recorder, subjects: list[Subject], row: str, backend: str,
           workers: int) -> None:
    started: list[Server] = []
    try:
        ref_key = f"{row}-reference"
        ref_url = _url(backend, ref_key, work)
        # the reference's tables come from the newest build's migrations (the last subject)
        servers.prepare_database(servers.server_env(ref_url), work / ref_key, subjects[-1].python)
        if backend == "pg":
            configs = [floor_config(ref_key, ref_url, workers, work)]
            ref_label = f"raw asyncpg floor, {workers} process{'es' if workers > 1 else ''}"
        else:
            app = servers.reference_app(ref_key, "floor_http", work / ref_key, workers=workers,
                                        env={"BENCH_DATABASE_URL": ref_url})
            started.append(app)
            app.start()
            configs = [refresh_config(ref_key, app, work / ref_key)]
            ref_label = f"the same transaction (sqlite3) behind a bare FastAPI route, {workers} worker(s)"
        rec.spec(RowSpec(row, ref_key, ref_label))
        for subject in subjects:
            key = subject.key(row)
            url = _url(backend, key.replace("@", "-"), work)
            server = servers.ours(key, work / key, url, python=subject.python, workers=workers)
            started.append(server)
            server.start()
            configs.append(refresh_config(key, server, work / key, url if backend == "pg" else None))
            rec.spec(RowSpec(row, key, f"refresh grant, {NAMES[backend]}, {workers} worker(s)", ref_key,
                             "rps", TARGET, subject.name))
        print(f"== {row}", flush=True)
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()
