"""The storm row at two states of the code, interleaved in one run: the server's `app/`
as of a git revision against the working tree's, each started as `python -m app serve`
and driven as the harness's `idle` and `storm` rows (/protected p99 from the paced probe,
alone and while 50 clients run password grants). For a change that might move the
storm's p99, against the code before it on the same noisy machine minutes apart. Prints,
per state, the median over reps of storm p99 ÷ idle p99 (rep by rep).

    bench/.venv/bin/python bench/ab_storm.py REV [--reps 5]   # bench/.venv: made by bench/run.sh
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import servers, wrk  # noqa: E402
from benchlib.ab import ab_setup  # noqa: E402
from benchlib.config import STORM_PROBE_CONNECTIONS, STORM_PROBE_DELAY_MS  # noqa: E402
from benchlib.phase_login import storm_config  # noqa: E402
from benchlib.runner import Config, Recorder, interleave, wrk_measure  # noqa: E402


def main() -> None:
    with ab_setup("storm", reps=5, duration=8) as ab:
        logins = wrk.form_post_script(ab.work / "login.lua", servers.LOGIN_BODY)
        probe = wrk.write_script(ab.work / "probe.lua", wrk.DELAY_LUA % {"ms": STORM_PROBE_DELAY_MS})
        configs: list[Config] = []
        for variant in (ab.revision, "tree"):
            server = ab.server(variant, variant)
            headers = {"Authorization": f"Bearer {servers.access_token(server)}"}
            configs.append(Config(f"{variant}/idle", wrk_measure(server, "/protected", lambda: probe,
                                                                 connections=STORM_PROBE_CONNECTIONS, headers=headers)))
            storm = storm_config(server, probe, logins, headers)
            configs.append(Config(f"{variant}/storm", storm.measure))
        interleave(configs, ab.mode, Recorder(ab.work))
        summarise(ab.work / "runs.jsonl", [ab.revision, "tree"])


def summarise(runs: Path, variants: list[str]) -> None:
    p99: dict[tuple[str, int], float] = {}
    for line in runs.read_text().splitlines():
        run = json.loads(line)
        p99[(run["key"], run["rep"])] = run["p99_ms"]
    for variant in variants:
        reps = sorted(r for (k, r) in p99 if k == f"{variant}/storm" and (f"{variant}/idle", r) in p99)
        if not reps:
            print(f"{variant:>12}: no rep measured both")
            continue
        ratios = [p99[(f"{variant}/storm", r)] / p99[(f"{variant}/idle", r)] for r in reps]
        storms = ", ".join(f"{p99[(f'{variant}/storm', r)]:.2f}" for r in reps)
        print(f"{variant:>12}: storm p99 ÷ idle p99 {statistics.median(ratios):.2f}× "
              f"({min(ratios):.2f}–{max(ratios):.2f}), storm p99 {storms} ms, {len(reps)} reps")


if __name__ == "__main__":
    main()
