"""The database goes away under a running server, then comes back (PostgreSQL through a
TCP proxy the test controls): 503 with Retry-After, nothing hangs, no revoked token is
accepted, no token consumed, and recovery without a restart."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.faultproxy import FaultProxy
from tests.support import PASSWORD, bearer, live_server

pytestmark = [pytest.mark.postgresql_only, pytest.mark.usefixtures("user")]


def via(proxy: FaultProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


def assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["retry-after"]) > 0


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
def test_database_outage_and_recovery(database_url: str, fault: str) -> None:
    target = urlsplit(database_url)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        env = {"DB_CONNECT_TIMEOUT_SECONDS": "1", "DB_COMMAND_TIMEOUT_SECONDS": "1"}
        with live_server(via(proxy, database_url), **env) as base, httpx.Client(base_url=base, timeout=20) as http:
            form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
            pair = http.post("/user/oauth/token", data=form).json()
            revoked = http.post("/user/oauth/token", data=form).json()
            assert http.post("/user/_logout", headers=bearer(revoked["access_token"])).status_code == 200

            cached = http.post("/user/oauth/token", data=form).json()
            assert http.get("/protected", headers=bearer(cached["access_token"])).status_code == 200  # now cached
            time.sleep(0.6)  # the revocation feed has polled since: the session is trusted for 30 s

            getattr(proxy, fault)()
            started = time.monotonic()
            # Fail closed: the feed goes stale, the cached session gets the short interval
            # and must be read again, which cannot succeed.
            while (r := http.get("/protected", headers=bearer(cached["access_token"]))).status_code == 200:
                assert time.monotonic() - started < 3, "a cached session outlived the revocation feed"
            assert_503(r)
            stale_after = time.monotonic() - started
            started = time.monotonic()
            assert_503(http.post("/user/oauth/token", data=form))
            assert_503(http.post("/refresh", headers=bearer(pair["refresh_token"])))
            assert_503(http.get("/protected", headers=bearer(pair["access_token"])))
            assert_503(http.get("/protected", headers=bearer(revoked["access_token"])))  # fails closed
            r = http.get("/readyz")
            assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
            assert time.monotonic() - started < 15  # every answer within its timeout, none hangs
            print(f"{fault}: a cached session answered 503 after {stale_after:.2f} s")

            proxy.restore()
            deadline = time.monotonic() + 10
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "no recovery without a restart"
                time.sleep(0.1)
            assert http.get("/protected", headers=bearer(revoked["access_token"])).status_code == 401
            # the refresh attempted during the outage consumed nothing
            r = http.post("/refresh", headers=bearer(pair["refresh_token"]))
            assert r.status_code == 200, r.text
            assert http.get("/protected", headers=bearer(r.json()["access_token"])).status_code == 200
