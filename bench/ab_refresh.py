"""Our SQLite refresh at two states of the code, interleaved in one run: the server's
`app/` as of a git revision against the working tree's, 1 and 2 workers, each
started as `python -m app serve` and driven by the harness's refresh script (the
`refresh` row, without its floors). For a change to the refresh path, measured as the
harness measures, against the code before it on the same noisy machine minutes apart.

    bench/.venv/bin/python bench/ab_refresh.py REV [--reps 4]   # bench/.venv: made by bench/run.sh
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import servers  # noqa: E402
from benchlib.config import QUICK  # noqa: E402
from benchlib.phase_refresh import refresh_config  # noqa: E402
from benchlib.procs import Server  # noqa: E402
from benchlib.revision import app_at  # noqa: E402
from benchlib.runner import Config, Recorder, interleave  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("revision", help="the other state of app/, e.g. HEAD~1")
    parser.add_argument("--reps", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab-refresh-"))
    old_tree = app_at(args.revision, work)
    mode = dataclasses.replace(QUICK, name="ab", reps=args.reps, duration=6)
    rec = Recorder(work)
    started: list[Server] = []
    configs: list[Config] = []
    try:
        for workers in (1, 2):
            for variant, path in ((args.revision, str(old_tree)), ("tree", "")):
                key = f"{variant}-{workers}w"
                env = servers.server_env(f"sqlite:///{work / key}.db")
                if path:
                    env["PYTHONPATH"] = path  # `python -m app` imports this app/ first
                servers.prepare_database(env, work / key)
                server = Server(key, [servers.PY, "-m", "app", "serve", "--host", "127.0.0.1",
                                      "--workers", str(workers)], env, work / key)
                server.start()
                started.append(server)
                configs.append(refresh_config(key, server, work / key))
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()


if __name__ == "__main__":
    main()
