"""The raw-driver floor of the PostgreSQL refresh rows: a refresh token rotation (a
conditional UPDATE that claims a token never used, of a live session, and the INSERT of
its successor, in one transaction) issued with asyncpg directly: no HTTP, no ORM, no JWT.

It runs as its own process pinned to the server core (two processes for the two-worker
rows), on the server's schema (migrated by `python -m app migrate`), rotating chains of
refresh tokens as the wrk refresh script does. The SQL below is the benchmark's own and
names the schema's tables and columns: a change to those needs a change here. The SQLite
rows' reference (apps/floor_http.py) runs the same statements with sqlite3.

    python -m benchlib.floor DATABASE_URL --warmup S --duration S --out FILE
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta, timezone

CHAINS = 64
LIFE = timedelta(hours=10)
CLAIM = """UPDATE refresh_token SET used_at = {now}
WHERE token_hash = {h} AND used_at IS NULL AND expires_at > {now}
  AND EXISTS (SELECT 1 FROM login_session AS s
              WHERE s.id = refresh_token.session_id AND s.revoked_at IS NULL AND s.expires_at > {now})
RETURNING session_id"""
SUCCESSOR = "INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at) VALUES ({v})"
SESSION = ("INSERT INTO login_session (id, user_id, scope, created_at, expires_at, idle_expires_at) "
           "VALUES ({v})")


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "rt_" + secrets.token_urlsafe(32)


async def pg_floor(url: str, warmup: float, duration: float, concurrency: int,
                   pool_size: int) -> tuple[list[float], float, float]:
    """asyncpg pool, `concurrency` tasks each rotating its own chains; returns latencies,
    this process' CPU and its PostgreSQL backends' CPU while measuring."""
    import asyncpg

    from benchlib.procs import cpu_seconds

    pool = await asyncpg.create_pool(url, min_size=pool_size, max_size=pool_size)
    user_id = await pool.fetchval("SELECT id FROM user_account LIMIT 1")
    now = datetime.now(timezone.utc)
    chains = [new_token() for _ in range(max(CHAINS, concurrency))]
    async with pool.acquire() as c, c.transaction():
        for token in chains:
            sid = secrets.token_hex(16)
            await c.execute(SESSION.format(v="$1,$2,'profile',$3,$4,$4"), sid, user_id, now, now + LIFE)
            await c.execute(SUCCESSOR.format(v="$1,$2,$3,$4"), sha(token), sid, now, now + LIFE)
    held = [await pool.acquire() for _ in range(pool_size)]
    backends = [await c.fetchval("SELECT pg_backend_pid()") for c in held]
    for c in held:
        await pool.release(c)
    claim, insert = CLAIM.format(now="$1", h="$2"), SUCCESSOR.format(v="$1,$2,$3,$4")
    lat: list[float] = []
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + duration
    marks: dict[str, float] = {}

    async def worker(mine: list[int]) -> None:
        k = 0
        while (t0 := time.perf_counter()) < end:
            idx = mine[k % len(mine)]
            successor, now = new_token(), datetime.now(timezone.utc)
            async with pool.acquire() as c, c.transaction():
                sid = await c.fetchval(claim, now, sha(chains[idx]))
                await c.execute(insert, sha(successor), sid, now, now + LIFE)
            chains[idx] = successor
            k += 1
            if t0 >= measure_from:
                lat.append(time.perf_counter() - t0)

    async def mark() -> None:
        await asyncio.sleep(warmup)
        marks["cpu0"], marks["db0"] = time.process_time(), cpu_seconds(backends)
        await asyncio.sleep(duration)
        marks["cpu1"], marks["db1"] = time.process_time(), cpu_seconds(backends)

    slices = [list(range(len(chains)))[w::concurrency] for w in range(concurrency)]
    await asyncio.gather(mark(), *(worker(s) for s in slices))
    await pool.close()
    return lat, marks["cpu1"] - marks["cpu0"], marks["db1"] - marks["db0"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--pool", type=int, default=15)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    lat, cpu, db_cpu = asyncio.run(pg_floor(a.url, a.warmup, a.duration, a.concurrency, a.pool))
    with open(a.out, "w") as f:
        json.dump({"latencies": lat, "duration": a.duration, "cpu_s": cpu, "db_cpu_s": db_cpu}, f)


if __name__ == "__main__":
    main()
