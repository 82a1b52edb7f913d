"""python -m benchlib [--quick] [--phases ROWS] [--reps N] [--duration S]: the table.

Run through bench/run.sh, which prepares the bench venv and wrk first. A run of every row
in the default mode also copies its report to bench/results/results.md; any other run
leaves it in results/raw/<stamp>/results.md only (and prints it).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import sys
from pathlib import Path

from benchlib.builds import installed
from benchlib.config import FULL, QUICK
from benchlib.harness import ROWS, run, selector

BENCH = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(prog="bash bench/run.sh")
    p.add_argument("--quick", action="store_true", help="short runs, to try the harness")
    p.add_argument("--phases", "--rows", dest="rows", default="",
                   help=f"comma-separated rows or prefixes (default: all): {', '.join(ROWS)}")
    p.add_argument("--reps", type=int, help="interleaved reps per configuration")
    p.add_argument("--duration", type=int, help="measured seconds per run")
    p.add_argument("--results", type=Path, default=BENCH / "results")
    args = p.parse_args()
    mode = QUICK if args.quick else FULL
    for field in ("reps", "duration"):
        if getattr(args, field):
            mode = dataclasses.replace(mode, **{field: getattr(args, field)})
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["python", "-m", "benchlib", *sys.argv[1:]])
    out = run([installed()], mode, selector(args.rows or ",".join(ROWS)), args.results, command)
    print(out.read_text())
    if not args.rows and not args.quick:
        shutil.copy(out, args.results / "results.md")
        print(f"report: {args.results / 'results.md'} (and {out})")
    else:
        print(f"report: {out}")


if __name__ == "__main__":
    main()
