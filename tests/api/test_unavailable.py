"""An unreachable database answers 503 with Retry-After, never 400/401 (which would make
clients throw good tokens away), and never a 500."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FrozenClock
from app.main import create_app
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
    apps = [create_app(down, clock=clock), create_app(settings, clock=clock)]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t") for a in apps]
    yield clients
    for c in clients:
        await c.aclose()
    for a in apps:
        await a.state.services.engine.dispose()


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


@pytest.mark.usefixtures("user")
async def test_a_failed_commit_never_burns_a_refresh_token(settings: Settings, clock: FrozenClock) -> None:
    """The rotation's COMMIT fails (as if the database died at that instant): the client
    gets a 503, and the same refresh token still works afterwards, without counting as
    reuse (the session is not revoked)."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    async with app_client(settings, clock) as client:
        engine = client.app.state.services.engine  # type: ignore[attr-defined]
        pair = await login_pair(client)
        failing = {"on": True}

        def fail_commit(conn):  # type: ignore[no-untyped-def]
            if failing["on"]:
                raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost at commit"))

        event.listen(engine.sync_engine, "commit", fail_commit)
        try:
            for path in ("/refresh", "/user/oauth/token"):
                if path == "/refresh":
                    r = await client.post(path, headers=bearer(pair["refresh_token"]))
                else:
                    r = await client.post(path, data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
                assert r.status_code == 503, r.text
                assert "retry-after" in r.headers
        finally:
            failing["on"] = False
            event.remove(engine.sync_engine, "commit", fail_commit)
        r = await client.post("/refresh", headers=bearer(pair["refresh_token"]))
        assert r.status_code == 200, r.text
        assert (await client.get("/protected", headers=bearer(r.json()["access_token"]))).status_code == 200
