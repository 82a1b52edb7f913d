"""Our cached /protected at two states of the code, interleaved in one run with the
ceiling: the server's `app/` as of a git revision against the working tree's, each
started as `python -m app serve` and driven as the harness's `protected` row (HS256,
SQLite, 32 connections). For a change to the hot path, measured served, against the
code before it on the same noisy machine minutes apart. Prints, per state, the median
over reps of the ceiling's CPU per request ÷ ours (rep by rep) and of req/s ÷ the
ceiling's; CPU is the server's utime + stime, the steadier of the two here.

    bench/.venv/bin/python bench/ab_protected.py REV [--reps 6]   # bench/.venv: made by bench/run.sh
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import servers, wrk  # noqa: E402
from benchlib.ab import ab_setup  # noqa: E402
from benchlib.config import PROTECTED_CONNECTIONS  # noqa: E402
from benchlib.runner import Config, Recorder, interleave, wrk_measure  # noqa: E402


def main() -> None:
    with ab_setup("protected", reps=6, duration=6) as ab:
        plain = wrk.write_script(ab.work / "plain.lua")
        ceiling = servers.peer("ceiling", "ceiling", ab.work / "ceiling")
        ceiling.start()
        ab.started.append(ceiling)
        configs = [Config("ceiling", wrk_measure(ceiling, "/protected", lambda: plain, connections=PROTECTED_CONNECTIONS))]
        for variant in (ab.revision, "tree"):
            server = ab.server(variant, variant)
            headers = {"Authorization": f"Bearer {servers.access_token(server)}"}
            configs.append(Config(variant, wrk_measure(server, "/protected", lambda: plain,
                                                       connections=PROTECTED_CONNECTIONS, headers=headers)))
        interleave(configs, ab.mode, Recorder(ab.work))
        summarise(ab.work / "runs.jsonl", [c.key for c in configs[1:]])


def summarise(runs: Path, keys: list[str]) -> None:
    by: dict[tuple[str, int], dict[str, float]] = {}
    for line in runs.read_text().splitlines():
        run = json.loads(line)
        by[(run["key"], run["rep"])] = run
    for key in keys:
        reps = [rep for (k, rep) in by if k == key and ("ceiling", rep) in by
                and by[(key, rep)]["cpu_us"] and by[("ceiling", rep)]["cpu_us"]]
        if not reps:
            print(f"{key:>12}: no rep measured both")
            continue
        cpu = [by[("ceiling", r)]["cpu_us"] / by[(key, r)]["cpu_us"] for r in reps]
        rps = [by[(key, r)]["rps"] / by[("ceiling", r)]["rps"] for r in reps]
        print(f"{key:>12}: ceiling CPU ÷ ours {statistics.median(cpu):.3f} ({min(cpu):.3f}–{max(cpu):.3f}),"
              f" req/s ÷ ceiling {statistics.median(rps):.3f} ({min(rps):.3f}–{max(rps):.3f}), {len(reps)} reps")


if __name__ == "__main__":
    main()
