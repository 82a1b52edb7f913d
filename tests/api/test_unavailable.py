"""An unreachable database answers 503 with Retry-After, never 400/401 (which would make
clients throw good tokens away), and never a 500."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import PASSWORD, TEST_SECRET, app_client, bearer, free_port, login_pair


@pytest.fixture
async def down_and_up(settings: Settings, user: object, clock: FrozenClock):  # type: ignore[no-untyped-def]
    """Two apps over the same sessions: one whose database is unreachable."""
    port = free_port()  # nothing listens there
    down = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{port}/none", jwt_secret=TEST_SECRET,
        db_connect_timeout_seconds=2, _env_file=None,
    )
    async with app_client(down, clock) as unreachable, app_client(settings, clock) as reachable:
        yield [unreachable, reachable]


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["retry-after"]) > 0


async def test_every_database_route_answers_503(down_and_up: list[httpx.AsyncClient]) -> None:
    down, up = down_and_up
    pair = await login_pair(up)
    assert_unavailable(await down.post("/user/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}))
    assert_unavailable(await down.post("/login", json={"username": "alice", "password": PASSWORD}))
    assert_unavailable(await down.post("/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}))
    assert_unavailable(await down.post("/refresh", headers=bearer(pair["refresh_token"])))
    assert_unavailable(await down.get("/protected", headers=bearer(pair["access_token"])))
    assert_unavailable(await down.post("/user/_logout", headers=bearer(pair["access_token"])))
    assert_unavailable(await down.get("/readyz"))
    assert (await down.get("/healthz")).status_code == 200
    # nothing was consumed or ended by the failed calls
    assert (await up.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
    r = await up.post("/refresh", headers=bearer(pair["refresh_token"]))
    assert r.status_code == 200


async def refresh_both_ways(client: httpx.AsyncClient, refresh_token: str) -> list[httpx.Response]:
    return [
        await client.post("/refresh", headers=bearer(refresh_token)),
        await client.post("/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}),
    ]


async def assert_still_refreshes(client: httpx.AsyncClient, refresh_token: str) -> None:
    r = await client.post("/refresh", headers=bearer(refresh_token))
    assert r.status_code == 200, r.text
    assert (await client.get("/protected", headers=bearer(r.json()["access_token"]))).status_code == 200


async def count_sessions(engine: object) -> int:
    from sqlalchemy import func, select

    from app.db.models import LoginSession, RefreshToken, table_of

    async with engine.connect() as conn:  # type: ignore[attr-defined]
        counts = [
            (await conn.execute(select(func.count()).select_from(table_of(model)))).scalar_one()
            for model in (LoginSession, RefreshToken)
        ]
    return int(counts[0]) * 1_000_000 + int(counts[1])


@asynccontextmanager
async def writes_fail(settings: Settings) -> AsyncIterator[None]:
    """Every write of the server fails for the block, from outside the server: on SQLite
    another process's connection holds the write lock (past the server's busy timeout);
    on PostgreSQL a trigger fails the audit row, the last part of a rotation or a new
    session, with a connection-failure SQLSTATE, so the database rolls back what the
    transaction wrote before it."""
    import sqlite3

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if settings.is_sqlite:
        holder = sqlite3.connect(settings.database_url.split("///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'connection lost' USING ERRCODE = '08006'; END $$"
            ))
            await conn.execute(text(
                "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION fail_audit()"
            ))
        try:
            yield
        finally:
            async with engine.begin() as conn:
                await conn.execute(text("DROP TRIGGER fail_audit ON audit_event"))
                await conn.execute(text("DROP FUNCTION fail_audit()"))
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("user")
async def test_a_failed_rotation_burns_nothing(settings: Settings, clock: FrozenClock) -> None:
    """A rotation whose transaction fails answers 503 with Retry-After, and the same
    refresh token still works afterwards, without counting as reuse; a login meanwhile
    gets 503 and leaves no session or token row behind."""
    async with app_client(settings, clock, sqlite_busy_timeout_ms=200) as client:
        engine = client.app.state.services.engine  # type: ignore[attr-defined]
        pair = await login_pair(client)
        async with writes_fail(settings):
            for r in await refresh_both_ways(client, pair["refresh_token"]):
                assert r.status_code == 503, r.text
                assert "retry-after" in r.headers
            sessions_before = await count_sessions(engine)
            r = await client.post("/user/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD})
            assert r.status_code == 503, r.text
        assert await count_sessions(engine) == sessions_before
        await assert_still_refreshes(client, pair["refresh_token"])


@pytest.mark.postgresql_only
async def test_postgresql_refusing_connections_is_a_503_not_a_500(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL reachable but refusing ("too many connections", SQLSTATE 53300; the
    same path serves "starting up" and "shutting down", class 57): the asyncpg dialect
    raises a plain DBAPIError for these, which is still the database being unavailable —
    503 with Retry-After, never a 500 with a traceback."""
    from tests.conftest import _pg_admin

    role = f"authserver_full_{free_port()}"
    await _pg_admin(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    refusing = settings.database_url.replace("://postgres@", f"://{role}@", 1)
    assert refusing != settings.database_url
    try:
        async with app_client(settings, clock, database_url=refusing) as client:
            answers = [
                await client.post("/user/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}),
                await client.get("/readyz"),
            ]
    finally:
        await _pg_admin(f'DROP ROLE IF EXISTS "{role}"')
    for r in answers:
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) > 0
    assert answers[0].json()["error"] == "temporarily_unavailable"
    assert not any(rec.exc_info for rec in caplog.records)  # no traceback logged either


@pytest.mark.sqlite_only
@pytest.mark.usefixtures("user")
async def test_an_outside_write_lock_costs_one_busy_timeout_per_request(settings: Settings, clock: FrozenClock) -> None:
    """Another process holding SQLite's write lock makes each route that writes wait one
    SQLITE_BUSY_TIMEOUT_MS, then answer 503: no request waits once per statement it
    would have run (counters, then session, then audit)."""
    busy = 1.0
    async with app_client(settings, clock, sqlite_busy_timeout_ms=int(busy * 1000)) as client:
        pair, other = await login_pair(client), await login_pair(client)
        form = {"grant_type": "password", "username": "alice"}
        calls = {
            "password grant": lambda: client.post("/user/oauth/token", data={**form, "password": PASSWORD}),
            "wrong password": lambda: client.post("/user/oauth/token", data={**form, "password": "wrong"}),
            "refresh grant": lambda: client.post("/user/oauth/token", data={
                "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}),
            "/login": lambda: client.post("/login", json={"username": "alice", "password": PASSWORD}),
            "logout": lambda: client.post("/user/_logout", headers=bearer(other["access_token"])),
            "revoke": lambda: client.post("/oauth/revoke", data={"token": other["refresh_token"]}),
        }
        async with writes_fail(settings):
            for name, call in calls.items():
                started = time.monotonic()
                r = await call()
                took = time.monotonic() - started
                assert r.status_code == 503, (name, r.text)
                assert busy * 0.9 < took < busy * 1.8, (name, took)
