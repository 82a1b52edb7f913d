"""A protected request reuses the Principal made for its token while the session cache
answers with the same entry; it must never outlive that entry: a re-read makes a new
one, and a session ended elsewhere ends it too. (How the cache ages its entries is
tests/unit/test_session_cache.py's subject; here an eviction stands for every way an
entry goes.)"""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.errors import InvalidToken
from app.settings import Settings
from tests.support import sid_of
from tests.support import app_client, bearer, login_pair

pytestmark = pytest.mark.usefixtures("user")


async def test_principal_follows_the_session_entry(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        issuer, cache = services.issuer, services.session_cache
        pair = await login_pair(client)
        token, sid = str(pair["access_token"]), sid_of(pair)
        first = await issuer.authenticate(token)
        assert await issuer.authenticate(token) is first
        cache.evict(sid)  # the next check reads the row again: a new entry, a new Principal
        second = await issuer.authenticate(token)
        assert second is not first and second == first and second.username == "alice"
        # ended by another process: this one learns it from the revocation feed
        async with app_client(settings, clock) as other:
            assert (await other.post("/user/_logout", headers=bearer(token))).status_code == 200
        await cache.poll_revocations()
        with pytest.raises(InvalidToken):
            await issuer.authenticate(token)
        r = await client.get("/protected", headers=bearer(token))
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


async def test_the_synchronous_path_answers_only_what_authenticate_would(settings: Settings, clock: FrozenClock) -> None:
    """`cached_principal` (the protected route's first try, no awaits) answers a token and
    session seen before, and otherwise leaves the decision to `authenticate`: never a
    Principal that `authenticate` would refuse."""
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        issuer, cache = services.issuer, services.session_cache
        pair = await login_pair(client)
        token, sid = str(pair["access_token"]), sid_of(pair)
        assert issuer.cached_principal(token, clock.now()) is None  # never verified here
        first = await issuer.authenticate(token)
        assert issuer.cached_principal(token, clock.now()) is first
        assert issuer.cached_principal(token + "x", clock.now()) is None  # another token: verified by authenticate
        cache.evict(sid)
        assert issuer.cached_principal(token, clock.now()) is None  # the entry is gone: a read decides
        second = await issuer.authenticate(token)
        assert issuer.cached_principal(token, clock.now()) is second
        third = await issuer.authenticate(token)
        assert issuer.cached_principal(token, clock.now()) is third
        # expired: refused at once, as authenticate refuses it
        clock.advance(minutes=settings.access_token_validity_minutes, seconds=settings.jwt_leeway_seconds)
        with pytest.raises(InvalidToken):
            issuer.cached_principal(token, clock.now())
        with pytest.raises(InvalidToken):
            await issuer.authenticate(token)


async def test_a_logout_ends_the_synchronous_path_at_once(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        pair = await login_pair(client)
        token = str(pair["access_token"])
        assert (await client.get("/protected", headers=bearer(token))).status_code == 200
        assert services.issuer.cached_principal(token, clock.now()) is not None
        assert (await client.post("/user/_logout", headers=bearer(token))).status_code == 200  # contract: POST /user/_logout
        assert services.issuer.cached_principal(token, clock.now()) is None
        r = await client.get("/protected", headers=bearer(token))
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
