"""Rows `login` (password grant against the hash time alone) and `storm` (/protected p99
while 50 clients run password grants, against /protected p99 idle).

The login row is measured with one client, so its latency is the total time of a login
with no queueing, directly comparable with one verification; a second run with 8
clients shows throughput. The storm probe is a light, paced /protected load (4
connections with a think time), so its p99 is response time, not queueing behind itself.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchlib import pinned, servers, wrk
from benchlib.config import (LOGIN_THROUGHPUT_CONNECTIONS, STORM_LOGIN_CONNECTIONS,
                             STORM_PROBE_CONNECTIONS, STORM_PROBE_DELAY_MS, Mode)
from benchlib.procs import Server
from benchlib.runner import Config, Recorder, RowSpec, Sample, interleave, sample_of, wrk_measure

TOKEN_PATH = "/user/oauth/token"


def hash_config(work: Path) -> Config:
    def measure(mode: Mode) -> Sample:
        argv = ["benchlib.hashtime", "--warmup", str(mode.warmup), "--duration", str(mode.duration)]
        return pinned.run([argv], [work / "hashtime.json"])

    return Config("hash", measure)


def storm_config(server: Server, probe: Path, logins: Path, headers: dict[str, str]) -> Config:
    """The login storm starts first and outlasts the probe."""

    def measure(mode: Mode) -> Sample:
        storm = wrk.start(server.base + TOKEN_PATH, seconds=mode.warmup + mode.duration + 3,
                          connections=STORM_LOGIN_CONNECTIONS, script=logins, timeout_s=30)
        try:
            time.sleep(mode.warmup + 1)  # let 50 hash-bound clients fill the server's queue
            result = wrk.run(server.base + "/protected", seconds=mode.duration,
                             connections=STORM_PROBE_CONNECTIONS, script=probe, headers=headers)
        finally:
            wrk.finish(storm)
        sample = sample_of(result, 0.0)
        sample.cpu_us = None  # the server's CPU here is mostly the logins': not per probe request
        return sample

    return Config("storm", measure)


def bench(work: Path, mode: Mode, rec: Recorder) -> None:
    d = work / "login"
    server = servers.ours("login", d, f"sqlite:///{d}/auth.db")
    server.start()
    try:
        token = servers.access_token(server)
        headers = {"Authorization": f"Bearer {token}"}
        logins = wrk.form_post_script(work / "login.lua", servers.LOGIN_BODY)
        probe = wrk.write_script(work / "probe.lua", wrk.DELAY_LUA % {"ms": STORM_PROBE_DELAY_MS})
        configs = [
            hash_config(work),
            Config("login-1", wrk_measure(server, TOKEN_PATH, lambda: logins, connections=1)),
            Config("login-8", wrk_measure(server, TOKEN_PATH, lambda: logins,
                                          connections=LOGIN_THROUGHPUT_CONNECTIONS, timeout_s=30)),
            Config("idle", wrk_measure(server, "/protected", lambda: probe,
                                       connections=STORM_PROBE_CONNECTIONS, headers=headers)),
            storm_config(server, probe, logins, headers),
        ]
        rec.spec(
            RowSpec("hash", "login", "argon2id verification alone (server's parameters)"),
            RowSpec("login-1", "login", "our password grant, 1 client", "hash", "p50", 1.3,
                    note="ratio of p50 times"),
            RowSpec("login-8", "login", f"our password grant, {LOGIN_THROUGHPUT_CONNECTIONS} clients",
                    "hash", "rps", note="ratio of throughputs"),
            RowSpec("idle", "storm", f"/protected p99, idle ({STORM_PROBE_CONNECTIONS} paced clients)"),
            RowSpec("storm", "storm", f"/protected p99 during {STORM_LOGIN_CONNECTIONS} password-grant clients",
                    "idle", "p99", 2.0, note="ratio of p99 times"),
        )
        interleave(configs, mode, rec)
    finally:
        server.stop()
