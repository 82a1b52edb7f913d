"""Many sessions first seen at once: our /protected with the tokens of 500 sessions no
worker has read yet (a restart, a deploy, a wave of clients), each asked for once, 32 at a
time; then the same 500 again, now cached. The server's `app/` at a git revision against
the working tree, on SQLite and PostgreSQL, interleaved, a fresh server per pass (so
every cold pass starts cold), over 100,000 stored sessions.

    bench/.venv/bin/python bench/cold_sessions.py REV [--reps 4]   # bench/.venv: made by bench/run.sh

Per pass: the wall time until all 500 are answered, and the p50 / p99 / max latency.
Ratios are tree ÷ revision within a rep; the warm pass is the reference for what the
first reads add.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import db, servers, sqlite_db  # noqa: E402
from benchlib.config import LOAD_CORE  # noqa: E402
from benchlib.procs import Server  # noqa: E402
from benchlib.revision import app_at  # noqa: E402

SESSIONS = 500
CONCURRENCY = 32
STORED = 100_000


async def one_pass(port: int, tokens: list[str]) -> tuple[float, list[float]]:
    """Each token asked for once, CONCURRENCY keep-alive connections at a time: (wall
    seconds, latencies). HTTP/1.1 by hand: httpx costs the client core more per request
    than the server spends on a cached /protected, and would measure itself."""
    queue = list(reversed(tokens))
    latencies: list[float] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                token = queue.pop()
                started = time.perf_counter()
                writer.write(f"GET /protected HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:")))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"/protected answered {head[:40]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


def summary(wall: float, latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "wall_ms": wall * 1000,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("revision", help="the other state of app/, e.g. HEAD~1")
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--backends", default="sqlite,pg")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CORE)})  # the server has the other core
    work = Path(tempfile.mkdtemp(prefix="cold-sessions-"))
    old_tree = app_at(args.revision, work)
    variants = ((args.revision, str(old_tree)), ("tree", ""))
    results: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for backend in args.backends.split(","):
        servers_of: dict[str, Server] = {}
        tokens: list[str] = []
        for variant, path in variants:
            key = f"{backend}-{variant}"
            url = f"sqlite:///{work / key}.db" if backend == "sqlite" else db.create_pg(f"cold_{len(servers_of)}")
            env = servers.server_env(url)
            if path:
                env["PYTHONPATH"] = path  # `python -m app` imports this app/ first
            servers.prepare_database(env, work / key)
            (sqlite_db if backend == "sqlite" else db).bulk_sessions(url, servers.USERNAME, STORED)
            server = Server(key, [servers.PY, "-m", "app", "serve", "--host", "127.0.0.1"], env, work / key)
            servers_of[variant] = server
            if not tokens:  # the same sessions (md5 ids) in both databases: one set of tokens
                server.start()
                try:
                    model = servers.access_token(server)
                finally:
                    server.stop()
                import jwt  # the model login's own session is in this database only: left out
                own = jwt.decode(model, options={"verify_signature": False})["sid"]
                live = [s for s in (sqlite_db if backend == "sqlite" else db).live_sessions(url, SESSIONS + 1)
                        if s[0] != own][:SESSIONS]
                tokens = servers.tokens_for_sessions(model, live, work / "tokens.txt").read_text().split()
        for rep in range(args.reps):
            order = list(servers_of.items())
            if rep % 2:
                order.reverse()
            for variant, server in order:
                server.start()
                try:
                    cold = summary(*asyncio.run(one_pass(server.port, tokens)))
                    warm = summary(*asyncio.run(one_pass(server.port, tokens)))
                finally:
                    server.stop()
                results.setdefault((backend, variant, "cold"), []).append(cold)
                results.setdefault((backend, variant, "warm"), []).append(warm)
                print(f"rep {rep + 1} {backend} {variant}: cold {cold['wall_ms']:.0f} ms "
                      f"(p99 {cold['p99_ms']:.1f}, max {cold['max_ms']:.1f}); warm {warm['wall_ms']:.0f} ms",
                      flush=True)
    report(results, args.revision, args.reps)
    db.drop_all()


def report(results: dict[tuple[str, str, str], list[dict[str, float]]], revision: str, reps: int) -> None:
    print(f"\n{SESSIONS} sessions first seen at once, {CONCURRENCY} at a time, of {STORED:,} stored; "
          f"medians of {reps} reps")
    print(f"{'backend':<8} {'code':<12} {'pass':<5} {'wall ms':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for (backend, variant, kind), rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{backend:<8} {variant:<12} {kind:<5} {med['wall_ms']:>8.0f} {med['p50_ms']:>7.1f} "
              f"{med['p99_ms']:>7.1f} {med['max_ms']:>7.1f}")
    for backend in {b for b, _, _ in results}:
        old, new = results[(backend, revision, "cold")], results[(backend, "tree", "cold")]
        ratios = sorted(n["wall_ms"] / o["wall_ms"] for o, n in zip(old, new))
        print(f"{backend}: cold-pass wall time, tree ÷ {revision}, per rep: "
              + ", ".join(f"{r:.2f}" for r in ratios) + f" (median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()
