"""The protected rows: our `GET /protected` with a real access token (HS256, EdDSA), SQLite,
one worker, request logging as shipped, against the ceiling (apps/ceiling.py) in one
interleaved group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchlib import servers, wrk
from benchlib.builds import Subject
from benchlib.config import PROTECTED_CONNECTIONS, Mode
from benchlib.procs import Server
from benchlib.runner import Config, Recorder, RowSpec, interleave, wrk_measure

ALGORITHMS = ["HS256", "EdDSA"]
ROWS = [f"protected-{alg}" for alg in ALGORITHMS]
TARGET = 0.85


def bench(work: Path, mode: Mode, rec: Recorder, subjects: list[Subject], wanted: Callable[[str], bool]) -> None:
    rows = [row for row in ROWS if wanted(row)]
    if not rows:
        return
    plain = wrk.write_script(work / "plain.lua")
    started: list[Server] = []

    def config(key: str, server: Server, token: str | None) -> Config:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return Config(key, wrk_measure(server, "/protected", lambda: plain, connections=PROTECTED_CONNECTIONS,
                                       headers=headers))

    try:
        ceiling = servers.reference_app("ceiling", "ceiling", work / "ceiling")
        started.append(ceiling)
        ceiling.start()
        configs = [config("ceiling", ceiling, None)]
        for row in rows:
            rec.spec(RowSpec(row, "ceiling", "bare FastAPI route, same JSON, no auth, no logging"))
            alg = row.split("-", 1)[1]
            for subject in subjects:
                key = subject.key(row)
                server = servers.ours(key, work / key, f"sqlite:///{work / key}/auth.db",
                                      python=subject.python, algorithm=alg)
                started.append(server)
                server.start()
                configs.append(config(key, server, servers.access_token(server)))
                rec.spec(RowSpec(row, key, f"GET /protected, {alg}, SQLite, 1 worker", "ceiling", "rps",
                                 TARGET, subject.name))
        print(f"== {', '.join(rows)}", flush=True)
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()
