"""The SQLite rotation path alone, no HTTP: CPU per rotation and rotations/s through
`SqliteRotator` with 1 and with 16 chains rotating at once, for the server's `app/` at a
git revision and in the working tree, interleaved (each measurement its own process, on
its own migrated database). With 1 chain no two rotations can meet; with 16 they queue
behind each other, which is what group commit batches. bench/README.md has the figures.

    .venv/bin/python bench/rotator_cost.py REV [--reps 3] [--rotations 3200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
CONCURRENCY = (1, 16)


def measure(tree: str, chains: int, rotations: int) -> tuple[float, float]:
    """In a child process whose `app` is `tree`'s: (CPU µs per rotation, rotations/s)."""
    out = subprocess.run([sys.executable, __file__, "--child", tree, str(chains), str(rotations // chains)],
                         check=True, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=tree)).stdout
    cpu, rate = out.split()
    return float(cpu), float(rate)


def child(tree: str, chains: int, per_chain: int) -> None:
    from app.security.tokens import hash_token, new_refresh_token, new_session_id
    from app.store.rotation import NewSession, Rotation
    from app.store.rotation_sqlite import SqliteRotator

    path = Path(tempfile.mkdtemp()) / "rotations.db"
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{path}", JWT_SECRET="s" * 64, PYTHONPATH=tree)
    for args, stdin in ((["migrate"], ""), (["users", "create", "bench", "--password-stdin"], "bench-password-1\n")):
        subprocess.run([sys.executable, "-m", "app", *args], env=env, input=stdin, text=True, check=True,
                       capture_output=True)

    async def run() -> None:
        rotator = SqliteRotator(str(path), 5000)
        life = timedelta(hours=10)
        heads = []
        for _ in range(chains):
            token, now = new_refresh_token(), datetime.now(timezone.utc)
            await rotator.start(NewSession(new_session_id(), 1, "profile", None, now, now + life,
                                           hash_token(token), now + life, None, None, None))
            heads.append(token)

        async def rotate_chain(token: str) -> None:
            for _ in range(per_chain):
                successor = new_refresh_token()
                rotation = Rotation(hash_token(token), hash_token(successor), datetime.now(timezone.utc),
                                    life, None, None, None)
                assert await rotator.rotate(rotation, None) is not None
                token = successor

        cpu, wall = time.process_time(), time.perf_counter()  # process CPU: the thread's too
        await asyncio.gather(*(rotate_chain(t) for t in heads))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await rotator.close()
        print(f"{cpu / (chains * per_chain) * 1e6:.1f} {chains * per_chain / wall:.0f}")

    asyncio.run(run())


def main() -> None:
    from benchlib.revision import app_at

    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("revision")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rotations", type=int, default=3200)
    args = parser.parse_args()
    trees = {args.revision: str(app_at(args.revision)), "tree": str(REPO)}
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for rep in range(args.reps):
        for chains in CONCURRENCY:
            names = list(trees) if rep % 2 == 0 else list(reversed(trees))
            for name in names:
                results.setdefault((name, chains), []).append(measure(trees[name], chains, args.rotations))
    print(f"{'code':<12} {'chains':>6} {'CPU µs/rotation':>16} {'rotations/s':>12}   (medians of {args.reps})")
    for (name, chains), samples in results.items():
        print(f"{name:<12} {chains:>6} {statistics.median(s[0] for s in samples):>16.1f}"
              f" {statistics.median(s[1] for s in samples):>12.0f}")


if __name__ == "__main__":
    main()
