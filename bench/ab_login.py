"""Our password grant at two states of the code, interleaved in one run: the server's
`app/` as of a git revision against the working tree's, each started as `python -m app
serve` and driven as the harness's `login-1` row (one client, so the p50 is one login's
whole time), beside the hash time alone. For a change that might move login latency,
measured as the harness measures it, against the code before it on the same noisy
machine minutes apart.

    bench/.venv/bin/python bench/ab_login.py REV [--reps 5]   # bench/.venv: made by bench/run.sh
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import servers, wrk  # noqa: E402
from benchlib.config import QUICK  # noqa: E402
from benchlib.phase_login import TOKEN_PATH, hash_config  # noqa: E402
from benchlib.procs import Server  # noqa: E402
from benchlib.revision import app_at  # noqa: E402
from benchlib.runner import Config, Recorder, RowSpec, interleave, wrk_measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("revision", help="the other state of app/, e.g. HEAD~1")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab-login-"))
    old_tree = app_at(args.revision, work)
    mode = dataclasses.replace(QUICK, name="ab", reps=args.reps, duration=8)
    rec = Recorder(work)
    logins = wrk.form_post_script(work / "login.lua", servers.LOGIN_BODY)
    configs: list[Config] = [hash_config(work)]
    started: list[Server] = []
    try:
        for variant, path in ((args.revision, str(old_tree)), ("tree", "")):
            env = servers.server_env(f"sqlite:///{work / variant}.db")
            if path:
                env["PYTHONPATH"] = path  # `python -m app` imports this app/ first
            servers.prepare_database(env, work / variant)
            server = Server(variant, [servers.PY, "-m", "app", "serve", "--host", "127.0.0.1"], env, work / variant)
            server.start()
            started.append(server)
            configs.append(Config(variant, wrk_measure(server, TOKEN_PATH, lambda: logins, connections=1)))
            rec.spec(RowSpec(variant, "login", f"password grant, 1 client, {variant}", "hash", "p50", 1.3))
        rec.spec(RowSpec("hash", "login", "argon2id verification alone"))
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()


if __name__ == "__main__":
    main()
