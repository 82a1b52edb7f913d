"""What a copy of the database would give a thief: no token, no password, no secret."""

from __future__ import annotations

import glob
import os

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import PASSWORD, app_client, bearer, dump_database_text, login_pair, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_no_token_or_password_in_the_database(client: httpx.AsyncClient, settings: Settings) -> None:
    first = await login_pair(client)
    second = (await refresh_grant(client, first["refresh_token"])).json()
    secrets = [PASSWORD, first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]]
    # the random parts too, in case a prefix or encoding were stripped before storing
    secrets += [str(t)[3:] for t in (first["refresh_token"], second["refresh_token"])]
    secrets += [str(t).split(".")[2] for t in (first["access_token"], second["access_token"])]
    dump = await dump_database_text(settings.database_url)
    assert "argon2id" in dump  # the dump did read the rows
    for secret in secrets:
        assert str(secret) not in dump
    if settings.is_sqlite:  # the raw files, WAL included, as a copied disk would show them
        path = settings.database_url.split(":///", 1)[1]
        raw = b"".join(open(f, "rb").read() for f in glob.glob(path + "*") if os.path.isfile(f))
        assert raw
        for secret in secrets:
            assert str(secret).encode() not in raw


async def test_development_secret_is_shared_by_every_instance(settings: Settings, clock: FrozenClock) -> None:
    """No JWT_SECRET in development: one is generated once and stored, so a token from
    one worker verifies on another."""
    async with app_client(settings, clock, jwt_secret=None) as first, app_client(settings, clock, jwt_secret=None) as second:
        pair = await login_pair(first)
        assert (await second.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
