"""The hot reads go to the driver in one call (app.store.reads): raw `sqlite3` in a
thread, or one asyncpg statement — the session cache's and a login's user. They must
answer exactly as the engine's query does, and a read that fails must fail closed (503,
nothing cached, no session started) and recover once the database is back.

The stores are built here as the app builds them (`app.main.build_services`), from the
app's public services: the engine, the rotator and the reader."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.settings import Settings
from app.store.sessions import SqlSessionStore
from app.store.tables import users
from app.store.users import SqlUserStore
from tests.support import (
    app_client, bearer, create_user, dump_database_text, login_pair, password_grant, reads_fail,
)
from tests.store.test_live_many import sid_of

pytestmark = pytest.mark.usefixtures("user")


async def test_reads_answer_as_the_engine_does(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.reader is not None
        store = SqlSessionStore(services.engine, services.rotator, services.reader)
        engine_only = SqlSessionStore(services.engine)
        pairs = [await login_pair(client) for _ in range(4)]
        ids = [sid_of(p) for p in pairs]
        r = await client.post("/user/_logout", headers=bearer(pairs[1]["access_token"]))
        assert r.status_code in (200, 204), r.text
        asked = [*ids, "no-such-session"]
        for moment in (clock.now(), clock.now().replace(year=clock.now().year + 2)):  # live, then all ended
            found = await store.live_many(asked, moment)
            assert found == await engine_only.live_many(asked, moment)
            assert all(s.ends_at is not None and s.ends_at.utcoffset() is not None for s in found.values())
        assert sorted(await store.live_many(asked, clock.now())) == sorted([ids[0], ids[2], ids[3]])
        since = clock.now().replace(year=clock.now().year - 1)
        revoked = await store.revoked_since(since)
        assert revoked == [ids[1]] == await engine_only.revoked_since(since)
        assert await store.revoked_since(clock.now().replace(year=clock.now().year + 1)) == []


async def test_a_logins_user_is_read_as_the_engine_reads_it(settings: Settings, clock: FrozenClock) -> None:
    await create_user(settings, "Ame\u0301lie", scope="")  # stored NFC: "Amélie" with one code point
    await create_user(settings, "gone")
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.reader is not None
        through_reader = SqlUserStore(services.engine, services.reader)
        async with services.engine.begin() as conn:
            await conn.execute(users.update().where(users.c.username == "gone").values(is_active=False))
        engine_only = SqlUserStore(services.engine)
        for name in ("alice", "Ame\u0301lie", "Am\u00e9lie", "gone", "nobody", "ALICE", "alice "):
            found = await through_reader.get_by_username(name)
            assert found == await engine_only.get_by_username(name), name
        amelie = await through_reader.get_by_username("Am\u00e9lie")
        assert amelie is not None and amelie.username == "Am\u00e9lie" and amelie.scope == ""
        gone = await through_reader.get_by_username("gone")
        assert gone is not None and gone.is_active is False
        assert await through_reader.get_by_username("nobody") is None
        assert (await password_grant(client)).status_code == 200  # the login path reads through it
        assert (await password_grant(client, username="gone")).status_code == 400


async def test_a_login_whose_user_read_fails_is_503_and_starts_nothing(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, db_command_timeout_seconds=1) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        before = await dump_database_text(settings.database_url)
        async with reads_fail(services.engine, "user_account"):
            r = await password_grant(client)
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "temporarily_unavailable" and "access_token" not in r.text
        after = await dump_database_text(settings.database_url)
        # no session, token or audit row; only the rate limiter's counters, which count an
        # attempt before the user is read (tests/api/test_rate_limits.py)
        assert [line for line in after.splitlines() if not line.startswith(("('user:", "('ip:"))] == before.splitlines()
        await login_pair(client)


async def test_a_failed_read_fails_closed_and_recovers(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, db_command_timeout_seconds=1) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        pair = await login_pair(client)
        services.session_cache.evict(sid_of(pair))  # its next check reads the database
        async with reads_fail(services.engine, "login_session"):
            r = await client.get("/protected", headers=bearer(pair["access_token"]))
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "temporarily_unavailable" and int(r.headers["retry-after"]) > 0
            assert services.session_cache.cached(sid_of(pair), clock.now()) is None  # nothing cached from a failed read
        r = await client.get("/protected", headers=bearer(pair["access_token"]))
        assert r.status_code == 200, r.text


@pytest.mark.sqlite_only  # PostgreSQL's reads use the rotator's pool, which closes with it
async def test_a_read_after_close_is_503_not_a_crash(settings: Settings, clock: FrozenClock) -> None:
    """Requests still running while the app shuts down get a clear 503; closing twice is harmless."""
    from app.errors import ServiceUnavailable

    async with app_client(settings, clock) as client:
        reader = client.app.state.services.reader  # type: ignore[attr-defined]
        await reader.close()
        with pytest.raises(ServiceUnavailable):
            await reader.live_rows(["s"])
        with pytest.raises(ServiceUnavailable):
            await reader.revoked_since(clock.now())
        with pytest.raises(ServiceUnavailable):
            await reader.user_row("alice")
        await reader.close()  # and again when the app shuts down
