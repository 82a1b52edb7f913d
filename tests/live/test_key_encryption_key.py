"""A JWT_KEY_ENCRYPTION_KEY that does not decrypt the signing keys stored in the database.

At start-up it is a bad setting: `python -m app serve` (and `uvicorn --factory`, through the
lifespan) refuses with one line naming the variable and a non-zero exit, and changes nothing
stored. Should a key still fail to decrypt while serving (another replica stored it under
another key), the token endpoints answer 503 `temporarily_unavailable`, never a 500, and
log one line without a traceback or a secret.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from app.clock import FrozenClock, SystemClock
from app.db.engine import make_engine
from app.settings import Settings
from app.store.tables import keys, secrets_table
from tests.support import (
    ROOT, app_client, free_port, live_server, login_pair, password_grant, refresh_grant, server_env,
)

pytestmark = pytest.mark.usefixtures("user")

KEK = "stored-with-this-key-0123456789-abcdefghijklmnop"
OTHER_KEK = "a-different-key-0123456789-abcdefghijklmnopqrstu"
ALGORITHM = "EdDSA"


def with_kek(settings: Settings, kek: str | None) -> Settings:
    return settings.model_copy(update={
        "jwt_algorithm": ALGORITHM, "jwt_key_encryption_key": SecretStr(kek) if kek else None,
    })


async def stored_rows(settings: Settings) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The signing keys and the stored secrets (where a development key would go), as rows."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            signing = (await conn.execute(select(keys).order_by(keys.c.generation))).all()
            secrets = (await conn.execute(select(secrets_table).order_by(secrets_table.c.name))).all()
    finally:
        await engine.dispose()
    return [tuple(r) for r in signing], [tuple(r) for r in secrets]


async def seed_keys(settings: Settings, clock: FrozenClock) -> dict[str, object]:
    """A login on a server with KEK: the first signing key is generated and stored under it."""
    async with app_client(with_kek(settings, KEK), clock) as client:
        return await login_pair(client)


def start(database_url: str, command: list[str], kek: str | None) -> subprocess.CompletedProcess[str]:
    env = server_env(database_url, JWT_ALGORITHM=ALGORITHM, **({"JWT_KEY_ENCRYPTION_KEY": kek} if kek else {}))
    try:
        return subprocess.run(
            [sys.executable, "-m", *command, "--port", str(free_port())],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the server started with a JWT_KEY_ENCRYPTION_KEY that does not decrypt its keys")


@pytest.mark.parametrize("kek", [OTHER_KEK, None], ids=["other-key", "unset-in-development"])
async def test_serve_refuses_a_key_encryption_key_that_does_not_decrypt_the_stored_keys(
    settings: Settings, clock: FrozenClock, database_url: str, kek: str | None
) -> None:
    await seed_keys(settings, clock)
    before = await stored_rows(settings)
    proc = start(database_url, ["app", "serve"], kek)
    assert proc.returncode != 0
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "JWT_KEY_ENCRYPTION_KEY" in lines[0], lines
    assert KEK not in lines[0] and OTHER_KEK not in lines[0]
    assert await stored_rows(settings) == before  # no key replaced, no development key stored


async def test_uvicorn_factory_refuses_it_in_the_lifespan_without_a_traceback(
    settings: Settings, clock: FrozenClock, database_url: str
) -> None:
    await seed_keys(settings, clock)
    before = await stored_rows(settings)
    proc = start(database_url, ["uvicorn", "--factory", "app.main:create_app"], OTHER_KEK)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and OTHER_KEK not in output
    assert len([line for line in output.splitlines() if "JWT_KEY_ENCRYPTION_KEY" in line]) == 1, output
    assert await stored_rows(settings) == before


async def test_serve_with_the_right_key_starts_and_keeps_the_stored_key(
    settings: Settings, clock: FrozenClock, database_url: str
) -> None:
    pair = await seed_keys(settings, FrozenClock(SystemClock().now()))  # the server's clock: the key is active
    before = await stored_rows(settings)
    with live_server(database_url, JWT_ALGORITHM=ALGORITHM, JWT_KEY_ENCRYPTION_KEY=KEK) as base:
        r = httpx.post(f"{base}/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": str(pair["refresh_token"])})
        assert r.status_code == 200, r.text
    assert (await stored_rows(settings))[0] == before[0]


async def test_start_up_on_an_empty_key_table_writes_nothing(settings: Settings, clock: FrozenClock) -> None:
    """Development without JWT_KEY_ENCRYPTION_KEY: the check must not generate the
    development key (the first token request does that)."""
    async with app_client(with_kek(settings, None), clock):  # start-up, then shutdown
        pass
    assert await stored_rows(settings) == ([], [])


async def test_a_key_that_does_not_decrypt_at_request_time_gives_503_not_500(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """This replica started before another one, with another key, stored the signing key
    (so its start-up check had nothing to read): the RFC 6749 shape, and nothing consumed."""
    caplog.set_level(logging.INFO)
    async with app_client(with_kek(settings, OTHER_KEK), clock) as client:
        pair = await seed_keys(settings, clock)  # by the other replica, after this one started
        answers = [
            await password_grant(client),
            await refresh_grant(client, pair["refresh_token"]),
            await client.post("/login", json={"username": "alice", "password": "correct horse battery staple"}),
        ]
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "temporarily_unavailable"
        assert r.headers["retry-after"] and r.headers["cache-control"] == "no-store"
    logged = [rec for rec in caplog.records if "JWT_KEY_ENCRYPTION_KEY" in rec.getMessage()]
    assert len(logged) == len(answers)  # one line per failed request
    assert all(rec.exc_info is None and rec.exc_text is None for rec in logged)
    assert not any(rec.exc_info for rec in caplog.records if rec.name.startswith("app"))
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert KEK not in text and OTHER_KEK not in text
    async with app_client(with_kek(settings, KEK), clock) as client:  # the refresh token was not spent
        assert (await refresh_grant(client, pair["refresh_token"])).status_code == 200


async def test_a_database_not_ready_at_start_up_does_not_stop_it(
    settings: Settings, clock: FrozenClock, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Only a wrong key stops start-up. A database that is there but not usable yet (here:
    not migrated; PostgreSQL raises that as a ProgrammingError, SQLite as an
    OperationalError) is for the requests to meet, as 503s: one warning, and the app starts."""
    if settings.is_sqlite:
        empty = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    else:
        from tests.conftest import _pg_admin

        name = f"authserver_empty_{free_port()}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        empty = settings.database_url.rsplit("/", 1)[0] + f"/{name}"
    caplog.set_level(logging.WARNING)
    try:
        async with app_client(with_kek(settings, KEK), clock, database_url=empty):  # start-up, then shutdown
            pass
    finally:
        if not settings.is_sqlite:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    startup = [r.getMessage() for r in caplog.records if r.name == "app.startup"]
    assert len(startup) == 1 and "not checked at start-up" in startup[0]
