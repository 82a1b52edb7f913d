"""Row `refresh` (SQLite and PostgreSQL, 1 and 2 workers, each against its raw-driver
floor, and the floor's transaction behind a bare FastAPI route: apps/floor_http.py) and issue 3's `sessions` rows (refresh and /protected at a small and a big number
of stored sessions, in PostgreSQL and in SQLite).

Every refresh request spends a token that was never used: the wrk script rotates chains
started by real password grants (see wrk.REFRESH_LUA); the pool is topped up with more
logins between runs, outside the measured time, whenever it runs low.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchlib import db, pinned, servers, sqlite_db, wrk
from benchlib.config import (FLOOR_CONCURRENCY, FLOOR_POOL, PROTECTED_CONNECTIONS,
                             REFRESH_CONNECTIONS, REFRESH_POOL_SESSIONS, Mode)
from benchlib.procs import Server
from benchlib.runner import Config, Recorder, RowSpec, Sample, interleave, wrk_measure

TOKEN_PATH = "/user/oauth/token"
BACKEND_NAMES = {"sqlite": "SQLite", "pg": "PostgreSQL"}


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

    return Config(key, wrk_measure(server, TOKEN_PATH, script, connections=REFRESH_CONNECTIONS,
                                   db_url=db_url), script)


def floor_config(key: str, backend: str, url: str, procs: int, work: Path) -> Config:
    def measure(mode: Mode) -> Sample:
        argv = ["benchlib.floor", backend, url, "--warmup", str(mode.warmup),
                "--duration", str(mode.duration), "--concurrency", str(FLOOR_CONCURRENCY // procs),
                "--pool", str(FLOOR_POOL)]
        return pinned.run([argv] * procs, [work / f"{key}.{i}.json" for i in range(procs)])

    return Config(key, measure)


def _url(backend: str, name: str, work: Path) -> str:
    return f"sqlite:///{work / name}.db" if backend == "sqlite" else db.create_pg(name)


def bench(work: Path, mode: Mode, rec: Recorder, backends: list[str]) -> None:
    started: list[Server] = []
    configs: list[Config] = []
    try:
        for backend in backends:
            name = BACKEND_NAMES[backend]
            for workers in (1, 2):
                key, fkey = f"refresh-{backend}-{workers}w", f"floor-{backend}-{workers}p"
                d = work / key
                url = _url(backend, key.replace("-", "_"), d.parent)
                server = servers.ours(key, d, url, workers=workers)
                server.start()
                started.append(server)
                configs.append(refresh_config(key, server, d, url if backend == "pg" else None))
                furl = _url(backend, fkey.replace("-", "_"), work)
                servers.prepare_database(servers.server_env(furl), work / fkey)
                configs.append(floor_config(fkey, backend, furl, workers, work))
                rec.spec(
                    RowSpec(fkey, "refresh", f"raw-driver floor, {name}, {workers} process(es)"),
                    RowSpec(key, "refresh", f"our refresh grant, {name}, {workers} worker(s)", fkey, "rps", 0.80),
                )
                hkey = f"floorhttp-{backend}-{workers}w"
                try:  # a reference that cannot start is noted; the rows above still run
                    hurl = _url(backend, hkey.replace("-", "_"), work)
                    servers.prepare_database(servers.server_env(hurl), work / hkey)
                    reference = servers.peer(hkey, "floor_http", work / hkey, workers=workers,
                                             env={"BENCH_DATABASE_URL": hurl})
                    started.append(reference)
                    reference.start()
                    configs.append(refresh_config(hkey, reference, work / hkey, hurl if backend == "pg" else None))
                except Exception as exc:  # noqa: BLE001
                    rec.note(f"{hkey}: could not be benchmarked ({exc})")
                    continue
                rec.spec(
                    RowSpec(hkey, "bound", f"the floor's transaction, one per request, behind a bare FastAPI "
                            f"route, {name}, {workers} worker(s) (apps/floor_http.py)", fkey, "rps"),
                    RowSpec(key, "refresh", f"our refresh grant, {name}, {workers} worker(s), vs that route",
                            hkey, "rps"),
                )
                if backend == "sqlite":
                    _post_bound(work, workers, fkey, name, rec, configs, started)
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()


def _post_bound(work: Path, workers: int, fkey: str, name: str, rec: Recorder,
                configs: list[Config], started: list[Server]) -> None:
    """The HTTP floor's route without its transaction (apps/floor_http.py, no database):
    what any refresh served through FastAPI on this core reaches, however cheap its
    database work. Beside the SQLite floor only: it is that target it bounds."""
    pkey = f"posthttp-{workers}w"
    try:
        bound = servers.peer(pkey, "floor_http", work / pkey, workers=workers, env={"BENCH_DATABASE_URL": "none"})
        started.append(bound)
        bound.start()
        configs.append(refresh_config(pkey, bound, work / pkey))
    except Exception as exc:  # noqa: BLE001
        rec.note(f"{pkey}: could not be benchmarked ({exc})")
        return
    rec.spec(RowSpec(pkey, "bound", f"the same route with no database work at all (form, hashes, successor), "
                     f"{workers} worker(s), vs the {name} floor", fkey, "rps"))


MANY_TOKENS = 500  # each used many times per run (steady state), within the verified-token cache


def bench_sessions(work: Path, mode: Mode, rec: Recorder, backends: Sequence[str] = ("pg", "sqlite")) -> None:
    """Issue 3: the same server code at a small and a big number of stored sessions, on
    each backend. SQLite too: a per-refresh scan of the live sessions there went unseen
    while only PostgreSQL was measured. One interleaved group per backend, so each ratio
    pairs runs of one backend and PostgreSQL's group is measured as it always was."""
    for backend in backends:
        _sessions_group(work, mode, rec, backend)


def _sessions_group(work: Path, mode: Mode, rec: Recorder, backend: str) -> None:
    prefix = "sessions" if backend == "pg" else f"sessions-{backend}"  # PostgreSQL keeps its keys
    bulk, live = ((db.bulk_sessions, db.live_sessions) if backend == "pg"
                  else (sqlite_db.bulk_sessions, sqlite_db.live_sessions))
    started: list[Server] = []
    configs: list[Config] = []
    plain = wrk.write_script(work / "plain.lua")
    try:
        for size, count in (("small", mode.small_sessions), ("big", mode.big_sessions)):
            key = f"{prefix}-{size}"
            url = _url(backend, key.replace("-", "_"), work)
            db_url = url if backend == "pg" else None  # backend CPU: PostgreSQL only
            server = servers.ours(key, work / key, url)
            bulk(url, servers.USERNAME, count)  # before start: the SQLite load needs the file alone
            server.start()
            started.append(server)
            token = servers.access_token(server)
            configs.append(refresh_config(f"{key}-refresh", server, work / key, db_url))
            configs.append(Config(f"{key}-protected", wrk_measure(
                server, "/protected", lambda: plain, connections=PROTECTED_CONNECTIONS,
                headers={"Authorization": f"Bearer {token}"}, db_url=db_url)))
            if size == "big":  # many users at once: no database work per session either
                minted = servers.tokens_for_sessions(token, live(url, MANY_TOKENS), work / key / "tokens.txt")
                script = wrk.tokens_script(work / key / "many.lua", minted)
                configs.append(Config(f"{key}-protected-many", wrk_measure(
                    server, "/protected", lambda: script, connections=PROTECTED_CONNECTIONS, db_url=db_url)))
        rec.spec(*_sessions_specs(prefix, BACKEND_NAMES[backend], mode))
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()


def _sessions_specs(prefix: str, name: str, mode: Mode) -> list[RowSpec]:
    small, big = f"{mode.small_sessions:,}", f"{mode.big_sessions:,}"
    return [
        RowSpec(f"{prefix}-small-refresh", "sessions", f"refresh, {name}, {small} sessions"),
        RowSpec(f"{prefix}-big-refresh", "sessions", f"refresh, {name}, {big} sessions",
                f"{prefix}-small-refresh", "rps"),
        RowSpec(f"{prefix}-small-protected", "sessions", f"/protected, {name}, {small} sessions"),
        RowSpec(f"{prefix}-big-protected", "sessions", f"/protected, {name}, {big} sessions",
                f"{prefix}-small-protected", "rps"),
        RowSpec(f"{prefix}-big-protected-many", "sessions",
                f"/protected, {name}, {MANY_TOKENS:,} sessions' tokens in turn (of {big})",
                f"{prefix}-big-protected", "rps"),
    ]
