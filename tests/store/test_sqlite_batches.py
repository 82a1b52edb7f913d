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
from typing import Any, AsyncIterator

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.api.test_unavailable import CommitFails, assert_still_refreshes
from tests.support import app_client, login_pair, refresh_grant

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
        return list(await asyncio.gather(*tasks))


async def test_queued_refreshes_commit_in_one_transaction(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        rotator = client.app.state.services.rotator  # type: ignore[attr-defined]
        pairs = [await login_pair(client) for _ in range(8)]
        begins = [0]
        real = rotator._connection
        rotator._connection = lambda: CountsBegins(real(), begins)
        answers = await in_one_batch(rotator, [refresh_grant(client, p["refresh_token"]) for p in pairs])
        assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
        assert begins[0] == 1  # eight rotations, one transaction
        rotator._connection = real
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
