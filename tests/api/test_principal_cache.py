"""A protected request reuses the Principal made for its token while the session cache
answers with the same entry (app.oauth.issuer._Verified); it must never outlive that
entry: a re-read makes a new one, and a session ended elsewhere ends it too."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.errors import InvalidToken
from app.settings import Settings
from tests.store.test_live_many import sid_of
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
        assert await cache._inner.revoke(sid, clock.now(), "logout")
        await cache.poll_revocations()
        with pytest.raises(InvalidToken):
            await issuer.authenticate(token)
        r = await client.get("/protected", headers=bearer(token))
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
