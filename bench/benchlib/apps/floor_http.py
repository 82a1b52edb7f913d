"""The raw-driver floor behind a bare FastAPI route: a reference for the refresh rows.

`POST /user/oauth/token` with `grant_type=refresh_token` runs exactly the floor's
transaction (benchlib/floor.py: the conditional UPDATE … RETURNING and the INSERT of the
successor, with sqlite3 or asyncpg directly) and answers the successor as JSON, so the
wrk refresh script drives it as it drives our server. `grant_type=password` starts a
chain (a session and its first token) for the bench's token pool. No JWT, no client or
user check, no audit, no log line, no metrics: only HTTP and FastAPI (configured as our
server configures it) around the floor's transaction, one per request. On SQLite it runs
on the event loop itself, so one worker waits on nothing but the disk; on PostgreSQL it
makes the floor's four round trips, which our one-statement rotation can beat, so there
it is a reference, not a bound.

With `BENCH_DATABASE_URL=none` the same route does everything but the transaction (parse
the form, hash the token, make and answer a successor): a bound for any refresh served
through FastAPI, whatever its database work costs (the `posthttp` rows).

    BENCH_DATABASE_URL=sqlite:///path.db | postgresql://…  (the server's migrated schema) | none
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api.telemetry import fastapi_telemetry
from benchlib.floor import CLAIM, LIFE, SESSION, SUCCESSOR, new_token, sha

URL = os.environ["BENCH_DATABASE_URL"]
SQLITE = URL.startswith("sqlite")
NO_DATABASE = URL == "none"
POOL = 15  # the floor's pool size (config.FLOOR_POOL)
state: dict[str, Any] = {}


def _ts(d: datetime) -> str:
    return d.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    if NO_DATABASE:
        yield
    elif SQLITE:
        conn = sqlite3.connect(URL.split("///", 1)[1], isolation_level=None, timeout=10, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        state["sqlite"] = conn
        state["user"] = conn.execute("SELECT id FROM user_account LIMIT 1").fetchone()[0]
        yield
        conn.close()
    else:
        import asyncpg

        # Idle connections close within a second: the servers of the refresh group all run
        # at once, and PostgreSQL's default 100 connections must hold them all plus a floor.
        pool = await asyncpg.create_pool(URL, min_size=0, max_size=POOL, max_inactive_connection_lifetime=1.0)
        state["pg"] = pool
        state["user"] = await pool.fetchval("SELECT id FROM user_account LIMIT 1")
        yield
        await pool.close()


app = FastAPI(lifespan=lifespan, **fastapi_telemetry())


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/user/oauth/token")
async def token(request: Request) -> JSONResponse:
    params = dict(parse_qsl((await request.body()).decode()))
    if params.get("grant_type") == "password":
        successor = await _start()
    else:
        successor = await _rotate(params.get("refresh_token", ""))
    if successor is None:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    return JSONResponse({"refresh_token": successor, "token_type": "Bearer"})


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error so the shared connection is
    never left inside a transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


async def _start() -> str:
    if NO_DATABASE:
        return new_token()
    sid, token, now = secrets.token_hex(16), new_token(), datetime.now(timezone.utc)
    if SQLITE:
        with _transaction(state["sqlite"]) as conn:
            conn.execute(SESSION.format(v="?,?,?,?,?,?"), (sid, state["user"], "profile", _ts(now), _ts(now + LIFE), _ts(now + LIFE)))
            conn.execute(SUCCESSOR.format(v="?,?,?,?"), (sha(token), sid, _ts(now), _ts(now + LIFE)))
    else:
        async with state["pg"].acquire() as c, c.transaction():
            await c.execute(SESSION.format(v="$1,$2,'profile',$3,$4,$4"), sid, state["user"], now, now + LIFE)
            await c.execute(SUCCESSOR.format(v="$1,$2,$3,$4"), sha(token), sid, now, now + LIFE)
    return token


async def _rotate(token: str) -> str | None:
    """The floor's loop body, once (benchlib/floor.py)."""
    successor, now = new_token(), datetime.now(timezone.utc)
    if NO_DATABASE:
        sha(token), sha(successor)  # the floor's hashing, nothing stored
        return successor
    if SQLITE:
        now_s = _ts(now)
        with _transaction(state["sqlite"]) as conn:
            row = conn.execute(CLAIM.format(now="?1", h="?2"), (now_s, sha(token))).fetchone()
            if row is not None:
                conn.execute(SUCCESSOR.format(v="?,?,?,?"), (sha(successor), row[0], now_s, _ts(now + LIFE)))
        return successor if row is not None else None
    async with state["pg"].acquire() as c, c.transaction():
        sid = await c.fetchval(CLAIM.format(now="$1", h="$2"), now, sha(token))
        if sid is None:
            return None
        await c.execute(SUCCESSOR.format(v="$1,$2,$3,$4"), sha(successor), sid, now, now + LIFE)
    return successor
