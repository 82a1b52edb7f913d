"""Group commit on SQLite's driver path (app.store.rotation_sqlite): refreshes that queue
while the rotation thread is busy commit together, in one transaction, and each is
answered only after that COMMIT. A job that is refused or fails rolls back alone; a
COMMIT that fails answers 503 to every job of the batch and spends no token.

To make a batch for certain, each test holds the rotation thread with a job of its own,
lets real requests queue behind it, and lets go once they have all queued."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.errors import ServiceUnavailable
from app.settings import Settings
from app.store.rotation_sqlite import SqliteRotator
from app.store.tables import attempts
from tests.api.test_unavailable import CommitFails, assert_still_refreshes
from tests.support import app_client, login_pair, password_grant, refresh_grant

pytestmark = [pytest.mark.sqlite_only, pytest.mark.usefixtures("user")]


class CountsBegins:
    """The rotation thread's connection, counting the transactions it starts."""

    def __init__(self, con: sqlite3.Connection, counter: list[int]) -> None:
        self._con, self._counter = con, counter

    def execute(self, sql: str, *args: object) -> object:
        if sql == "BEGIN IMMEDIATE":
            self._counter[0] += 1
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


class RecordsTransactions:
    """The rotation thread's connection, recording each transaction's statements."""

    def __init__(self, con: sqlite3.Connection, transactions: list[list[str]]) -> None:
        self._con, self._transactions = con, transactions

    def execute(self, sql: str, *args: object) -> object:
        if sql == "BEGIN IMMEDIATE":
            self._transactions.append([])
        elif self._transactions:
            self._transactions[-1].append(sql)
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


@asynccontextmanager
async def held_thread(rotator: Any) -> AsyncIterator[threading.Event]:
    """The rotation thread waits on the event; on the way out it is let go in any case."""
    release = threading.Event()
    rotator._thread.submit(release.wait)
    try:
        yield release
    finally:
        release.set()


async def in_one_batch(rotator: Any, requests: list[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Run `requests` at once and let the rotation thread go when all have queued."""
    async with held_thread(rotator) as release:
        tasks = [asyncio.ensure_future(r) for r in requests]
        for _ in range(500):
            if len(rotator._queue) == len(tasks):
                break
            await asyncio.sleep(0.01)
        assert len(rotator._queue) == len(tasks), "the requests did not all reach the rotation queue"
        release.set()
        return list(await asyncio.wait_for(asyncio.gather(*tasks), 30))  # a stranded job fails, not hangs


async def test_queued_refreshes_commit_in_one_transaction(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pairs = [await login_pair(client) for _ in range(8)]
        begins = [0]
        real = rotator._connection
        rotator._connection = lambda: CountsBegins(real(), begins)
        try:
            answers = await in_one_batch(rotator, [refresh_grant(client, p["refresh_token"]) for p in pairs])
        finally:
            rotator._connection = real
        assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
        assert begins[0] == 1  # eight rotations, one transaction
        successors = {r.json()["refresh_token"] for r in answers}
        assert len(successors) == 8
        for r in answers:  # each successor was stored, and each spent token stays spent
            assert (await refresh_grant(client, r.json()["refresh_token"])).status_code == 200
        for p in pairs:
            again = await refresh_grant(client, p["refresh_token"])
            assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_refused_rotation_rolls_back_alone(settings: Settings, clock: FrozenClock) -> None:
    """The middle request asks for a scope its session lacks: the driver path claims the
    token, finds the scope wrong and refuses, so its savepoint rolls the claim back while
    its neighbours commit. It is answered invalid_scope and its token still works."""
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pairs = [await login_pair(client, scope="read") for _ in range(3)]
        answers = await in_one_batch(rotator, [
            refresh_grant(client, pairs[0]["refresh_token"]),
            refresh_grant(client, pairs[1]["refresh_token"], scope="read admin"),
            refresh_grant(client, pairs[2]["refresh_token"]),
        ])
        assert [r.status_code for r in answers] == [200, 400, 200], [r.text for r in answers]
        assert answers[1].json()["error"] == "invalid_scope"
        assert (await refresh_grant(client, pairs[1]["refresh_token"])).status_code == 200
        for r in (answers[0], answers[2]):
            assert (await refresh_grant(client, r.json()["refresh_token"])).status_code == 200


async def test_a_failing_job_fails_alone(settings: Settings, clock: FrozenClock) -> None:
    """A job that writes and then raises: its caller gets the exception, its write is
    rolled back, and the refreshes batched with it commit."""
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pairs = [await login_pair(client) for _ in range(2)]

        def writes_then_fails(con: sqlite3.Connection) -> object:
            con.execute("UPDATE user_account SET username = 'mallory' WHERE username = 'alice'")
            raise ValueError("a bug in one job")

        async def failing() -> httpx.Response:
            with pytest.raises(ValueError, match="a bug in one job"):
                await rotator._submit(writes_then_fails)
            return httpx.Response(599)

        answers = await in_one_batch(rotator, [
            refresh_grant(client, pairs[0]["refresh_token"]), failing(),
            refresh_grant(client, pairs[1]["refresh_token"]),
        ])
        assert [r.status_code for r in answers] == [200, 599, 200], [r.text for r in answers]
        con = sqlite3.connect(rotator._path)
        try:
            assert con.execute("SELECT count(*) FROM user_account WHERE username = 'alice'").fetchone() == (1,)
        finally:
            con.close()
        for r in (answers[0], answers[2]):
            assert (await refresh_grant(client, r.json()["refresh_token"])).status_code == 200


async def test_a_failed_commit_answers_every_job_503_and_spends_nothing(
    settings: Settings, clock: FrozenClock
) -> None:
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pairs = [await login_pair(client) for _ in range(4)]
        real = rotator._connection
        rotator._connection = lambda: CommitFails(real())
        try:
            answers = await in_one_batch(rotator, [refresh_grant(client, p["refresh_token"]) for p in pairs])
        finally:
            rotator._connection = real
        assert [r.status_code for r in answers] == [503] * 4, [r.text for r in answers]
        for p in pairs:  # nothing spent, nothing counted as reuse
            await assert_still_refreshes(client, str(p["refresh_token"]))


async def test_one_token_twice_in_one_batch_rotates_once(settings: Settings, clock: FrozenClock) -> None:
    """Reuse inside a batch is reuse: one wins, the other is refused only after the batch
    committed (it falls through to the SQLAlchemy path, which sees the spent token), and
    the strict policy ends the session, the winner's new pair included. The request
    batched with them is untouched."""
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pair, other = await login_pair(client), await login_pair(client)
        answers = await in_one_batch(rotator, [
            refresh_grant(client, pair["refresh_token"]), refresh_grant(client, pair["refresh_token"]),
            refresh_grant(client, other["refresh_token"]),
        ])
        assert sorted(r.status_code for r in answers[:2]) == [200, 400], [r.text for r in answers]
        winner = next(r for r in answers[:2] if r.status_code == 200)
        assert (await refresh_grant(client, winner.json()["refresh_token"])).status_code == 400
        assert answers[2].status_code == 200
        assert (await refresh_grant(client, answers[2].json()["refresh_token"])).status_code == 200


async def test_one_token_thrice_in_one_batch_within_the_grace_period(settings: Settings, clock: FrozenClock) -> None:
    """With a grace period, the retries get the pair the winner's job sealed in the same
    batch: it was committed before any of them was answered."""
    async with app_client(settings, clock, refresh_reuse_grace_seconds=10) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pair = await login_pair(client)
        answers = await in_one_batch(rotator, [refresh_grant(client, pair["refresh_token"]) for _ in range(3)])
        assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
        assert len({r.json()["refresh_token"] for r in answers}) == 1


async def test_queued_logins_commit_in_one_transaction(settings: Settings, clock: FrozenClock) -> None:
    # Without rate limits, a login's one rotation job is its new session. (With them, its
    # counters queue first; the next test batches those.)
    settings = settings.model_copy(update={"rate_limit_enabled": False})
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        begins = [0]
        real = rotator._connection
        rotator._connection = lambda: CountsBegins(real(), begins)
        try:
            answers = await in_one_batch(rotator, [password_grant(client) for _ in range(5)])
        finally:
            rotator._connection = real
        assert [r.status_code for r in answers] == [200] * 5, [r.text for r in answers]
        assert begins[0] == 1
        for r in answers:
            assert (await refresh_grant(client, r.json()["refresh_token"])).status_code == 200

# The rotator alone, on a table of its own: how a batch fails, and that no caller is left
# waiting and no write lock left held, whatever a job does.

@asynccontextmanager
async def bare_rotator(tmp_path: Path) -> AsyncIterator[SqliteRotator]:
    path = tmp_path / "jobs.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE mark (name TEXT)")
    con.commit()
    con.close()
    rotator = SqliteRotator(str(path), 1000)
    try:
        yield rotator
    finally:
        if not rotator._closed:
            await rotator.close()


async def test_queued_login_counters_commit_in_one_transaction(settings: Settings, clock: FrozenClock) -> None:
    """With rate limits on (the default), logins that arrive together count their attempts
    in one transaction too, and each gets its own count."""
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        rotator = services.rotator
        assert services.grants._grants["password"]._limiter._store._rotator is rotator
        transactions: list[list[str]] = []
        real = rotator._connection
        rotator._connection = lambda: RecordsTransactions(real(), transactions)
        try:
            answers = await in_one_batch(rotator, [password_grant(client) for _ in range(5)])  # their counters queue
        finally:
            rotator._connection = real
        assert [r.status_code for r in answers] == [200] * 5, [r.text for r in answers]
        upserts = [sum("INTO login_attempt" in sql for sql in t) for t in transactions]
        assert upserts[0] == 10 and sum(upserts) == 10  # 5 logins × 2 buckets, all in the first
        async with services.engine.connect() as conn:
            counts = (await conn.execute(select(attempts.c.count))).scalars().all()
        assert sorted(counts) == [5, 5]  # the user's bucket and the client IP's


def mark(name: str) -> Any:
    def work(con: sqlite3.Connection) -> str:
        con.execute("INSERT INTO mark VALUES (?)", (name,))
        return name
    return work


def marks(rotator: SqliteRotator) -> list[str]:
    con = sqlite3.connect(rotator._path)
    try:
        return sorted(row[0] for row in con.execute("SELECT name FROM mark"))
    finally:
        con.close()


def assert_write_lock_free(rotator: SqliteRotator) -> None:
    con = sqlite3.connect(rotator._path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")  # "database is locked" if a batch kept its transaction
        con.execute("ROLLBACK")
    finally:
        con.close()


async def batch_of(rotator: SqliteRotator, works: list[Any]) -> list[Any]:
    """The works as one batch; each one's result, or the exception it raised."""
    async with held_thread(rotator) as release:
        tasks = [asyncio.ensure_future(rotator._submit(w)) for w in works]
        await asyncio.sleep(0)
        assert len(rotator._queue) == len(works)
        release.set()
        return list(await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30))


class Boom(BaseException):
    pass


def then(first: Any, error: BaseException) -> Any:
    def work(con: sqlite3.Connection) -> object:
        first(con)
        raise error
    return work


async def test_a_database_error_in_one_job_fails_its_whole_batch(tmp_path: Path) -> None:
    async with bare_rotator(tmp_path) as rotator:
        outcomes = await batch_of(rotator, [mark("a"), then(mark("b"), sqlite3.OperationalError("disk I/O error"))])
        assert [type(o) for o in outcomes] == [ServiceUnavailable, ServiceUnavailable]
        assert marks(rotator) == []
        assert_write_lock_free(rotator)
        assert await rotator._submit(mark("c")) == "c"  # a fresh connection serves the next
        assert marks(rotator) == ["c"]


async def test_a_constraint_error_fails_its_job_alone(tmp_path: Path) -> None:
    async with bare_rotator(tmp_path) as rotator:
        outcomes = await batch_of(rotator, [mark("a"), then(mark("b"), sqlite3.IntegrityError("UNIQUE")), mark("c")])
        assert outcomes[0] == "a" and isinstance(outcomes[1], sqlite3.IntegrityError) and outcomes[2] == "c"
        assert marks(rotator) == ["a", "c"]


async def test_a_base_exception_goes_to_its_caller_and_frees_the_lock(tmp_path: Path) -> None:
    async with bare_rotator(tmp_path) as rotator:
        for works in ([then(mark("x"), Boom())], [mark("a"), then(mark("x"), Boom()), mark("b")]):
            outcomes = await batch_of(rotator, works)
            assert [type(o) for o in outcomes if not isinstance(o, str)] == [Boom]
            assert_write_lock_free(rotator)
        assert marks(rotator) == ["a", "b"]


async def test_a_failure_outside_the_jobs_answers_every_job_and_frees_the_lock(tmp_path: Path) -> None:
    """MemoryError from SQLite (its NOMEM), or a bug in the batch itself: every job of the
    batch is answered 503, and the transaction does not stay open holding the lock."""
    async with bare_rotator(tmp_path) as rotator:
        calls = [0]
        real = SqliteRotator._run_job

        def failing_second(con: sqlite3.Connection, work: Any, *, savepoint: bool) -> Any:
            calls[0] += 1
            if calls[0] == 2:
                raise MemoryError()
            return real(con, work, savepoint=savepoint)

        rotator._run_job = failing_second  # type: ignore[method-assign]
        outcomes = await batch_of(rotator, [mark("a"), mark("b"), mark("c")])
        assert [type(o) for o in outcomes] == [ServiceUnavailable] * 3
        assert_write_lock_free(rotator)
        assert marks(rotator) == []


async def test_a_cancelled_caller_s_queued_job_does_not_run(tmp_path: Path) -> None:
    async with bare_rotator(tmp_path) as rotator:
        async with held_thread(rotator) as release:
            gone = asyncio.ensure_future(rotator._submit(mark("gone")))
            kept = asyncio.ensure_future(rotator._submit(mark("kept")))
            await asyncio.sleep(0)
            gone.cancel()
            await asyncio.sleep(0)
            release.set()
            assert await asyncio.wait_for(kept, 30) == "kept"
        assert marks(rotator) == ["kept"]


async def test_after_close_every_job_is_refused_at_once(tmp_path: Path) -> None:
    async with bare_rotator(tmp_path) as rotator:
        assert await rotator._submit(mark("a")) == "a"
        await rotator.close()
        for _ in range(2):  # the second as well: nothing is left queued behind the first
            with pytest.raises(ServiceUnavailable):
                await asyncio.wait_for(rotator._submit(mark("late")), 5)
        assert marks(rotator) == ["a"]
