"""Side experiment: the refresh grant on SQLite at 1, 4 and 16 connections against one
server. It separates what a refresh costs by itself (1 connection: no lock waits) from
what concurrent writers add (SQLite's busy handler sleeps while another connection holds
the write lock). Not part of run.sh; from bench/:

    PATH=$PWD/.venv/bin:$PATH .venv/bin/python -m benchlib.contention
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from benchlib import servers
from benchlib.config import QUICK
from benchlib.phase_refresh import TOKEN_PATH, refresh_config
from benchlib.runner import wrk_measure


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="authbench-contention-"))
    server = servers.ours("contention", work, f"sqlite:///{work}/auth.db")
    server.start()
    mode = dataclasses.replace(QUICK, duration=6, warmup=1)
    try:
        config = refresh_config("refresh", server, work)
        assert config.script is not None
        for rep in range(2):
            for connections in (1, 4, 16):
                s = wrk_measure(server, TOKEN_PATH, config.script, connections=connections)(mode)
                print(f"rep {rep + 1} connections {connections:2d}: {s.rps:6.1f} req/s  p50 {s.p50_ms:7.1f} ms"
                      f"  p99 {s.p99_ms:7.1f} ms  cpu {s.cpu_us or 0:6.0f} us/req  errors {s.errors}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
