"""A/B: the rows at two revisions of the server, measured interleaved in one run.

    bash bench/run.sh ab BASE_REV [HEAD_REV] [--rows refresh,protected] [--reps N] [--quick]

Each revision (HEAD_REV: HEAD by default, the committed tree) is checked out in a
temporary git worktree and installed into a venv of its own (benchlib/builds.py). Each
row is then one interleaved group: its reference, the base build and the head build, rep
after rep; the report gives each build's ratio to the reference of the same rep, and head
÷ base rep by rep. Raw records and the report go to bench/results/raw/<stamp>-ab/.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.builds import build  # noqa: E402
from benchlib.config import FULL, QUICK  # noqa: E402
from benchlib.harness import ROWS, run, selector  # noqa: E402

BENCH = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(prog="bash bench/run.sh ab")
    p.add_argument("base", help="the revision to compare against, e.g. main or HEAD~3")
    p.add_argument("head", nargs="?", default="HEAD", help="the revision under test (default: HEAD)")
    p.add_argument("--rows", default="", help=f"comma-separated rows or prefixes (default: all): {', '.join(ROWS)}")
    p.add_argument("--reps", type=int, help="interleaved reps per configuration")
    p.add_argument("--duration", type=int, help="measured seconds per run")
    p.add_argument("--quick", action="store_true", help="short runs, to try it")
    args = p.parse_args()
    mode = dataclasses.replace(QUICK if args.quick else FULL, name="ab")
    for field in ("reps", "duration"):
        if getattr(args, field):
            mode = dataclasses.replace(mode, **{field: getattr(args, field)})
    if args.quick:
        mode = dataclasses.replace(mode, name="ab-quick")
    wanted = selector(args.rows or ",".join(ROWS))
    subjects = [build("base", args.base), build("head", args.head)]
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["python", "bench/ab.py", *sys.argv[1:]])
    out = run(subjects, mode, wanted, BENCH / "results", command)
    print(out.read_text())
    print(f"report: {out}")


if __name__ == "__main__":
    main()
