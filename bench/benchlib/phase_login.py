"""The login row: the password grant with one client (so its p50 is one login's whole
time, no queueing) against one verification of the same stored hash by the hashing
library alone (benchlib/hashtime.py), in one interleaved group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchlib import pinned, servers, wrk
from benchlib.builds import Subject
from benchlib.config import Mode
from benchlib.procs import Server
from benchlib.runner import Config, Recorder, RowSpec, Sample, interleave, wrk_measure

TOKEN_PATH = "/user/oauth/token"
ROWS = ["login"]
TARGET = 1.3


def hash_config(key: str, db_url: str, work: Path) -> Config:
    def measure(mode: Mode) -> Sample:
        argv = ["benchlib.hashtime", db_url, servers.PASSWORD, "--warmup", str(mode.warmup),
                "--duration", str(mode.duration)]
        return pinned.run([argv], [work / f"{key}.json"])

    return Config(key, measure)


def bench(work: Path, mode: Mode, rec: Recorder, subjects: list[Subject], wanted: Callable[[str], bool]) -> None:
    if not wanted("login"):
        return
    logins = wrk.form_post_script(work / "login.lua", servers.LOGIN_BODY)
    started: list[Server] = []
    configs: list[Config] = []
    try:
        for subject in subjects:  # each build hashes with its own parameters: its own reference
            key, ref = subject.key("login"), subject.key("hash")
            url = f"sqlite:///{work / key}/auth.db"
            server = servers.ours(key, work / key, url, python=subject.python)
            started.append(server)
            server.start()
            configs += [hash_config(ref, url, work),
                        Config(key, wrk_measure(server, TOKEN_PATH, lambda: logins, connections=1, timeout_s=30))]
            rec.spec(RowSpec("login", ref, "verification of the stored hash alone (hash library, p50)",
                             subject=subject.name),
                     RowSpec("login", key, "password grant, 1 client, SQLite (p50)", ref, "p50", TARGET,
                             subject.name))
        print("== login", flush=True)
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()
