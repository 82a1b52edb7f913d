"""Our SQLite refresh at two states of the code, interleaved in one run: the server's
`app/` as of a git revision against the working tree's, 1 and 2 workers, each
started as `python -m app serve` and driven by the harness's refresh script (the
`refresh` row, without its floors). For a change to the refresh path, measured as the
harness measures, against the code before it on the same noisy machine minutes apart.

    bench/.venv/bin/python bench/ab_refresh.py REV [--reps 4]   # bench/.venv: made by bench/run.sh
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.ab import ab_setup  # noqa: E402
from benchlib.phase_refresh import refresh_config  # noqa: E402
from benchlib.runner import Config, Recorder, interleave  # noqa: E402


def main() -> None:
    with ab_setup("refresh", reps=4, duration=6) as ab:
        configs: list[Config] = []
        for workers in (1, 2):
            for variant in (ab.revision, "tree"):
                key = f"{variant}-{workers}w"
                configs.append(refresh_config(key, ab.server(key, variant, workers=workers), ab.work / key))
        interleave(configs, ab.mode, Recorder(ab.work))

if __name__ == "__main__":
    main()
