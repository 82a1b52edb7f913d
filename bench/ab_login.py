"""Our password grant at two states of the code, interleaved in one run: the server's
`app/` as of a git revision against the working tree's, each started as `python -m app
serve` and driven as the harness's `login-1` row (one client, so the p50 is one login's
whole time), beside the hash time alone; with `--clients 8`, the `login-8` row
(throughput). For a change that might move login latency,
measured as the harness measures it, against the code before it on the same noisy
machine minutes apart.

    bench/.venv/bin/python bench/ab_login.py REV [--reps 5] [--clients 8]   # bench/.venv: made by bench/run.sh
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import servers, wrk  # noqa: E402
from benchlib.ab import ab_setup  # noqa: E402
from benchlib.phase_login import TOKEN_PATH, hash_config  # noqa: E402
from benchlib.runner import Config, Recorder, interleave, wrk_measure  # noqa: E402


def main() -> None:
    def clients(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--clients", type=int, default=1, help="concurrent clients (1: login-1, 8: login-8)")

    with ab_setup("login", reps=5, duration=8, options=clients) as ab:
        logins = wrk.form_post_script(ab.work / "login.lua", servers.LOGIN_BODY)
        configs: list[Config] = [hash_config(ab.work)]
        for variant in (ab.revision, "tree"):
            server = ab.server(variant, variant)
            configs.append(Config(variant, wrk_measure(server, TOKEN_PATH, lambda: logins,
                                                    connections=ab.args.clients, timeout_s=30)))
        interleave(configs, ab.mode, Recorder(ab.work))

if __name__ == "__main__":
    main()
