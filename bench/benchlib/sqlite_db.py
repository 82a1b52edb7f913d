"""Issue 3's bulk-loaded sessions in a SQLite database file: the counterpart of
db.bulk_sessions / db.live_sessions, so the session-count rows cover SQLite too (where a
per-refresh scan of live sessions once went unseen because only PostgreSQL was measured).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

# The same ids and token hashes as db.BULK_SESSIONS / db.BULK_TOKENS (md5 of the same
# strings), so both backends hold the same rows in the same (random) key order.
BULK_SESSIONS = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count)
INSERT INTO login_session (id, user_id, scope, client_id, created_at, expires_at, idle_expires_at)
SELECT md5('bulk-session-' || n), :user_id, 'profile', NULL, :now, :day, :hour FROM g
"""
BULK_TOKENS = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count)
INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at, used_at)
SELECT md5('bulk-token-a' || n) || md5('bulk-token-b' || n), md5('bulk-session-' || n),
       :now, :hour, NULL FROM g
"""


def _ts(moment: datetime) -> str:
    """The text form the server stores on SQLite (naive UTC, microseconds; see
    app/store/rotation_sqlite.py), so its string comparisons order these rows right."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def path_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def bulk_sessions(url: str, username: str, count: int) -> None:
    """Issue 3: `count` live sessions, each with one unused refresh token, in the server's
    own (migrated) tables, in one transaction. Must run while no server has the file open:
    the load leaves WAL mode for a rollback journal (WAL would copy every new page into
    the log first, then again into the file) and goes back to WAL afterwards.

    No ANALYZE, unlike PostgreSQL: there autovacuum would gather statistics anyway, but
    the server never analyzes a SQLite file, so its plans are measured without them."""
    now = datetime.now(timezone.utc)
    params = {"count": count, "now": _ts(now), "day": _ts(now + timedelta(days=1)),
              "hour": _ts(now + timedelta(hours=1))}
    con = sqlite3.connect(path_of(url), isolation_level=None)
    try:
        con.create_function("md5", 1, _md5, deterministic=True)
        journal = con.execute("PRAGMA journal_mode").fetchone()[0]
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=OFF")  # a scratch file: a crash just reruns the bench
        con.execute("PRAGMA cache_size=-524288")  # 512 MiB: the random-key indexes stay in memory
        row = con.execute("SELECT id FROM user_account WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise RuntimeError(f"no user {username!r} in {url}: migrate and create it first")
        con.execute("BEGIN")
        con.execute(BULK_SESSIONS, dict(params, user_id=row[0]))
        con.execute(BULK_TOKENS, params)
        con.execute("COMMIT")
        con.execute(f"PRAGMA journal_mode={journal}")
    finally:
        con.close()


def live_sessions(url: str, count: int) -> list[tuple[str, int]]:
    """(session id, user id) of `count` live sessions, for tokens minted by the bench."""
    con = sqlite3.connect(path_of(url))
    try:
        rows = con.execute("SELECT id, user_id FROM login_session WHERE revoked_at IS NULL "
                           "ORDER BY id LIMIT ?", (count,)).fetchall()
    finally:
        con.close()
    return [(str(r[0]), int(r[1])) for r in rows]
