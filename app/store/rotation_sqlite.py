"""The driver path on SQLite (app.store.rotation): one thread per process, with its own
sqlite3 connection, runs the rotations, new sessions and login-counter hits of this
process; they queue in memory, not in SQLite's busy handler.

Group commit: what queued while the thread was busy runs as one batch, in one BEGIN
IMMEDIATE … COMMIT, each job inside its own savepoint (a job that refuses — returns None —
or fails rolls back alone). Every answer waits for the batch's COMMIT, so nothing is
answered that could still be lost; a batch whose COMMIT fails answers 503 to all its jobs,
with nothing of any of them stored. Rotations that meet take one thread hop and one
commit per batch instead of one each, about half the CPU per rotation
(bench/rotator_cost.py); a job alone runs as before."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.errors import ServiceUnavailable
from app.store.rotation import NewSession, Rotation, Seal, scope_ok
from app.store.session_info import SessionInfo

def sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text for a UTC instant (app.db.base.UtcDateTime), so
    rows written here compare and read back exactly like rows written through it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _kept(outcome: Any) -> bool:
    return outcome is not None and not isinstance(outcome, BaseException)


def _answer(job: _Job, outcome: Any) -> None:
    try:
        job.loop.call_soon_threadsafe(_settle, job.future, outcome)
    except RuntimeError:
        pass  # its loop is closed: nobody is waiting for the answer


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    """On the job's loop, after its batch committed (or failed)."""
    if future.done():  # the caller was cancelled; what committed stays committed
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def open_sqlite(path: str, busy_timeout_ms: int, *pragmas: str) -> sqlite3.Connection:
    """A driver-path connection (this module's and app.store.reads_sqlite's): autocommit,
    so transactions are only those the caller begins and each lone SELECT sees the latest
    commit, with the engine's busy timeout and the given PRAGMAs."""
    con = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    for pragma in (f"busy_timeout={int(busy_timeout_ms)}", *pragmas):
        con.execute(f"PRAGMA {pragma}")
    return con


def from_sqlite_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# The session check is a correlated EXISTS (one primary-key lookup): written as
# `session_id IN (SELECT id FROM login_session WHERE …)`, SQLite builds the list of every
# live session first, and a refresh cost ~1 ms per 2,000 sessions (tests/store/test_query_plans.py).
_SQLITE_CLAIM = """
UPDATE refresh_token SET used_at = ?
WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
  AND EXISTS (SELECT 1 FROM login_session AS s
              WHERE s.id = refresh_token.session_id AND s.revoked_at IS NULL AND s.expires_at > ?)
RETURNING session_id
"""
_SQLITE_SESSION = """
SELECT s.user_id, u.username, s.scope, s.client_id, s.expires_at,
       s.client_id IS NULL OR s.client_id = ?
         OR NOT EXISTS (SELECT 1 FROM oauth_client c WHERE c.client_id = s.client_id)
FROM login_session s JOIN user_account u ON u.id = s.user_id
WHERE s.id = ? AND u.is_active
"""
_SQLITE_TOKEN = "INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at) VALUES (?, ?, ?, ?)"
_SQLITE_TOUCH = "UPDATE login_session SET last_refreshed_at = ?, idle_expires_at = ? WHERE id = ?"
_SQLITE_SEALED = "UPDATE refresh_token SET successor_hash = ?, successor_pair = ? WHERE token_hash = ?"
_SQLITE_NEW_SESSION = (
    "INSERT INTO login_session (id, user_id, scope, client_id, created_at, expires_at, idle_expires_at, user_agent, ip)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_AUDIT = (
    "INSERT INTO audit_event (at, event, user_id, username, session_id, client_id, ip, user_agent, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# app.store.attempts.SqlAttemptStore.hit's upsert
_SQLITE_HIT = """
INSERT INTO login_attempt (bucket, window_start, count) VALUES (?, ?, 1)
ON CONFLICT (bucket, window_start) DO UPDATE SET count = login_attempt.count + 1
RETURNING count
"""

MAX_BATCH = 64  # jobs per transaction: bounds how long the write lock is held at once
# A job's own errors (a constraint, a bug in its statement) fail that job alone; any
# other sqlite3.Error is the database's (busy, I/O, full, damaged) and fails the batch.
_JOB_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError)

log = logging.getLogger("app.store")

Work = Callable[[sqlite3.Connection], Any]  # None: refused, roll back what it wrote


@dataclass
class _Job:
    work: Work
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class SqliteRotator:
    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-rotation")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._queue: list[_Job] = []
        self._drain_due = False  # a drain is submitted and has not taken the queue yet
        self._closed = False

    async def rotate(self, rotation: Rotation, seal: Seal | None) -> SessionInfo | None:
        result: SessionInfo | None = await self._submit(lambda con: self._claim(con, rotation, seal))
        return result

    async def start(self, session: NewSession) -> None:
        await self._submit(lambda con: self._insert_session(con, session))

    async def hit(self, buckets: Sequence[str], window_start: datetime) -> list[int]:
        at, names = sqlite_time(window_start), list(buckets)
        counts: list[int] = await self._submit(
            lambda con: [int(con.execute(_SQLITE_HIT, (name, at)).fetchone()[0]) for name in names]
        )
        return counts

    async def close(self) -> None:
        with self._lock:
            self._closed = True  # nothing more is queued; what is queued runs first (FIFO)
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    async def _submit(self, work: Work) -> Any:
        loop = asyncio.get_running_loop()
        job = _Job(work, loop.create_future(), loop)
        with self._lock:
            if self._closed:
                raise ServiceUnavailable()
            self._queue.append(job)
            submit, self._drain_due = not self._drain_due, True
        if submit:
            try:
                self._thread.submit(self._drain)
            except BaseException:  # the interpreter is shutting down: answer, never strand
                with self._lock:
                    stranded, self._queue, self._drain_due = self._queue, [], False
                for other in stranded:
                    _answer(other, ServiceUnavailable())
        return await job.future

    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = open_sqlite(
                self._path, self._busy_timeout_ms, "journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"
            )
        return con

    def _close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def _drain(self) -> None:
        """In the thread: everything queued so far, in batches of MAX_BATCH. A job whose
        caller was cancelled before it ran is dropped, as the executor used to drop it (a
        benign race: at worst it runs). Every other job is answered, whatever happens."""
        with self._lock:
            queue, self._queue, self._drain_due = self._queue, [], False
        queue = [job for job in queue if not job.future.cancelled()]
        answered = 0
        try:
            for first in range(0, len(queue), MAX_BATCH):
                batch = queue[first:first + MAX_BATCH]
                for job, outcome in zip(batch, self._run_batch([job.work for job in batch])):
                    _answer(job, outcome)
                answered = first + len(batch)
        finally:
            for job in queue[answered:]:  # only after a bug here: answered, never left waiting
                _answer(job, ServiceUnavailable())

    def _run_batch(self, works: list[Work]) -> list[Any]:
        """One transaction for the batch, a savepoint per job (none for a job alone: the
        transaction is its own). A job's outcome is its result (None when refused) or the
        exception it raised. The database failing (locked past the busy timeout, I/O
        error, a failed COMMIT) fails every job of the batch with 503, nothing committed,
        and the connection is opened afresh next time, as after a restore."""
        alone = len(works) == 1
        con = None
        try:
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            outcomes = [self._run_job(con, work, savepoint=not alone) for work in works]
            con.execute("COMMIT" if not alone or _kept(outcomes[0]) else "ROLLBACK")
            return outcomes
        except sqlite3.Error:
            self._abandon(con)
            return [ServiceUnavailable() for _ in works]
        except BaseException:  # noqa: BLE001 - MemoryError, or a bug here: rolled back, answered
            log.exception("a batch of rotations failed; rolled back, answered 503")
            self._abandon(con, keep=True)
            return [ServiceUnavailable() for _ in works]

    @staticmethod
    def _run_job(con: sqlite3.Connection, work: Work, *, savepoint: bool) -> Any:
        if savepoint:
            con.execute("SAVEPOINT job")
        try:
            result = work(con)
        except sqlite3.Error as exc:
            if not isinstance(exc, _JOB_ERRORS):
                raise  # the database, not this job: the whole batch fails
            result = exc
        except BaseException as exc:  # noqa: BLE001 - handed to its caller, as the executor did
            result = exc
        if savepoint:
            if not _kept(result):
                con.execute("ROLLBACK TO job")
            con.execute("RELEASE job")
        return result

    def _insert_session(self, con: sqlite3.Connection, n: NewSession) -> bool:
        now, refresh_end = sqlite_time(n.now), sqlite_time(n.refresh_expires_at)
        con.execute(_SQLITE_NEW_SESSION, (n.session_id, n.user_id, n.scope, n.client_id, now,
                                          sqlite_time(n.expires_at), refresh_end, n.user_agent, n.ip))
        con.execute(_SQLITE_TOKEN, (n.refresh_hash, n.session_id, now, refresh_end))
        if n.audit is not None:
            a = n.audit
            con.execute(_AUDIT, (sqlite_time(a.at), a.event, n.user_id, a.username, n.session_id,
                                 a.client_id, a.ip, a.user_agent, a.detail))
        return True

    def _abandon(self, con: sqlite3.Connection | None, *, keep: bool = False) -> None:
        if con is None:
            return
        try:
            con.rollback()  # nothing of the transaction stays
            if keep:
                return
            con.close()
        except sqlite3.Error:
            pass  # a connection that is gone has committed nothing either
        self._local.con = None

    def _claim(self, con: sqlite3.Connection, r: Rotation, seal: Seal | None) -> SessionInfo | None:
        now = sqlite_time(r.now)
        row = con.execute(_SQLITE_CLAIM, (now, r.token_hash, now, now)).fetchone()
        if row is None:
            return None
        session_id = row[0]
        info = con.execute(_SQLITE_SESSION, (r.client_id, session_id)).fetchone()
        if info is None or not info[5] or not scope_ok(info[2] or "", r.narrow_to):
            return None
        expires_at = from_sqlite_time(info[4])
        refresh_expires_at = min(r.now + r.refresh_lifetime, expires_at)
        claimed = SessionInfo(session_id, info[0], info[1], info[2] or "", info[3], expires_at, refresh_expires_at)
        con.execute(_SQLITE_TOKEN, (r.successor_hash, session_id, now, sqlite_time(refresh_expires_at)))
        con.execute(_SQLITE_TOUCH, (now, sqlite_time(refresh_expires_at), session_id))
        if seal is not None:
            con.execute(_SQLITE_SEALED, (r.successor_hash, seal(claimed), r.token_hash))
        if r.audit is not None:
            a = r.audit
            con.execute(_AUDIT, (sqlite_time(a.at), a.event, claimed.user_id, claimed.username, session_id,
                                 a.client_id, a.ip, a.user_agent, a.detail))
        return claimed
