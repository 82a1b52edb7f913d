"""The SQLite refresh rows' reference: the floor's rotation transaction behind a bare
FastAPI route.

`POST /user/oauth/token` with `grant_type=refresh_token` runs the floor's statements
(benchlib/floor.py: the conditional UPDATE … RETURNING and the INSERT of the successor)
with the sqlite3 module, in one `BEGIN IMMEDIATE` transaction on the event loop, and
answers the successor as JSON, so the wrk refresh script drives it as it drives our
server. `grant_type=password` starts a chain (a session and its first token) for the
bench's token pool. No JWT, no client or user check, no log line, no metrics: only HTTP
and a default FastAPI around the transaction, one per request. A raw sqlite3 loop with
no HTTP at all is several times faster than any HTTP server on one core, so it is this
route, not that loop, that SQLite refresh is measured against.

    BENCH_DATABASE_URL=sqlite:///path.db   (the server's migrated schema, a user in it)
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

from benchlib.floor import CLAIM, LIFE, SESSION, SUCCESSOR, new_token, sha

PATH = os.environ["BENCH_DATABASE_URL"].split("///", 1)[1]
PRAGMAS = ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON", "synchronous=NORMAL")
state: dict[str, Any] = {}


def _ts(d: datetime) -> str:
    """Naive UTC text: how SQLAlchemy stores datetimes in SQLite, so the server's rows and
    these compare right."""
    return d.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    conn = sqlite3.connect(PATH, isolation_level=None, timeout=10, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    state["conn"] = conn
    state["user"] = conn.execute("SELECT id FROM user_account LIMIT 1").fetchone()[0]
    yield
    conn.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/user/oauth/token")
async def token(request: Request) -> JSONResponse:
    params = dict(parse_qsl((await request.body()).decode()))
    if params.get("grant_type") == "password":
        successor: str | None = _start()
    else:
        successor = _rotate(params.get("refresh_token", ""))
    if successor is None:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    return JSONResponse({"refresh_token": successor, "token_type": "Bearer"})


@contextmanager
def _transaction() -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error so the shared connection is
    never left inside a transaction."""
    conn: sqlite3.Connection = state["conn"]
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _start() -> str:
    sid, token, now = secrets.token_hex(16), new_token(), datetime.now(timezone.utc)
    with _transaction() as conn:
        conn.execute(SESSION.format(v="?,?,?,?,?,?"),
                     (sid, state["user"], "profile", _ts(now), _ts(now + LIFE), _ts(now + LIFE)))
        conn.execute(SUCCESSOR.format(v="?,?,?,?"), (sha(token), sid, _ts(now), _ts(now + LIFE)))
    return token


def _rotate(token: str) -> str | None:
    successor, now = new_token(), datetime.now(timezone.utc)
    now_s = _ts(now)
    with _transaction() as conn:
        row = conn.execute(CLAIM.format(now="?1", h="?2"), (now_s, sha(token))).fetchone()
        if row is not None:
            conn.execute(SUCCESSOR.format(v="?,?,?,?"), (sha(successor), row[0], now_s, _ts(now + LIFE)))
    return successor if row is not None else None
