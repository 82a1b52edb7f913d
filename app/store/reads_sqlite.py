"""The session cache's reads on a SQLite file (app.store.reads): one thread with its own
`sqlite3` connection runs each read whole, query and rows, in one hop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from app.errors import ServiceUnavailable
from app.store.rotation_sqlite import from_sqlite_time, open_sqlite, sqlite_time
from app.store.sessions import LiveRow, UserRow

T = TypeVar("T")

# SqlSessionStore.live_many's query, its columns in LiveRow's order (it filters the rows).
_LIVE = """
SELECT s.id, s.user_id, s.scope, u.username, u.is_active, s.revoked_at, s.expires_at, s.idle_expires_at
FROM login_session s JOIN user_account u ON u.id = s.user_id
WHERE s.id IN ({marks})
"""
_REVOKED = "SELECT id FROM login_session WHERE revoked_at >= ?"  # ix_login_session_revoked_at
_USER = "SELECT id, username, password_hash, scope, is_active FROM user_account WHERE username = ?"


class SqliteReader:
    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reads")
        self._local = threading.local()

    async def live_rows(self, session_ids: Sequence[str]) -> list[LiveRow]:
        ids = list(session_ids)
        return await self._run(lambda con: [_live_row(r) for r in con.execute(
            _LIVE.format(marks=",".join("?" * len(ids))), ids).fetchall()])

    async def revoked_since(self, since: datetime) -> list[str]:
        return await self._run(lambda con: [str(r[0]) for r in con.execute(_REVOKED, (sqlite_time(since),)).fetchall()])

    async def user_row(self, username: str) -> UserRow | None:
        row = await self._run(lambda con: con.execute(_USER, (username,)).fetchone())
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]), row[3], bool(row[4]))

    async def close(self) -> None:
        """Idempotent. Reads after it answer 503."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        except RuntimeError:
            return  # closed already
        self._thread.shutdown(wait=True)

    async def _run(self, read: Callable[[sqlite3.Connection], T]) -> T:
        try:
            job = asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, read)
        except RuntimeError:  # the executor is shut down: the app is closing
            raise ServiceUnavailable() from None
        try:
            return await job
        except sqlite3.Error:
            raise ServiceUnavailable() from None

    def _in_thread(self, read: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return read(self._connection())
        except sqlite3.Error:
            self._close()  # opened afresh next time, as after a restore or a lost file
            raise

    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = open_sqlite(self._path, self._busy_timeout_ms, "query_only=ON")  # never writes
        return con

    def _close(self) -> None:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        self._local.con = None
        if con is not None:
            try:
                con.close()
            except sqlite3.Error:
                pass


def _live_row(row: Any) -> LiveRow:
    sid, user_id, scope, username, active, revoked, expires, idle = row
    return (str(sid), int(user_id), scope, str(username), bool(active),
            None if revoked is None else from_sqlite_time(revoked), from_sqlite_time(expires), from_sqlite_time(idle))
