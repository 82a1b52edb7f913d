"""The fault drill: clients loop on /refresh and /user/me while the connection to
PostgreSQL is cut and healed, and stalled and healed (bytes held, then delivered, as TCP
does after a transient partition), under a server with two worker processes. Refreshes
may be answered 503 while their rotation commits anyway; the client retries after
Retry-After, as told. Nobody may be logged out and no token lost."""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.faultproxy import FaultProxy
from tests.live.test_faults import via
from tests.support import PASSWORD, bearer, live_server

pytestmark = [pytest.mark.postgresql_only, pytest.mark.usefixtures("user")]

SECONDS = float(os.environ.get("DRILL_SECONDS", "20"))  # per fault kind; 60 for the full drill
CLIENTS = 4
RETRY_AFTER_FLOOR = 1.5  # the clients wait at least this after a 503 (the server says 5)


class Client(threading.Thread):
    def __init__(self, base: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.stop = base, stop
        self.refreshed = self.unavailable = 0
        self.lost: list[str] = []

    def run(self) -> None:
        try:
            self.drive()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            self.lost.append(f"{type(exc).__name__}: {exc}")

    def drive(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
            while (r := http.post("/user/oauth/token", data=form)).status_code == 503:
                time.sleep(RETRY_AFTER_FLOOR)  # the drill may have begun
            pair = r.json()
            while not self.stop.is_set():
                r = http.post("/refresh", headers=bearer(pair["refresh_token"]))
                if r.status_code == 503:
                    self.unavailable += 1
                    time.sleep(max(RETRY_AFTER_FLOOR, min(float(r.headers["retry-after"]), 2.0)))
                    continue
                if r.status_code != 200:
                    self.lost.append(f"refresh {r.status_code} {r.text}")
                    return
                pair, self.refreshed = r.json(), self.refreshed + 1
                me = http.get("/user/me", headers=bearer(pair["access_token"]))
                if me.status_code not in (200, 503):
                    self.lost.append(f"/user/me {me.status_code} {me.text}")
                    return
                time.sleep(0.05)
            # after the drill, the pair the client holds still works
            final = http.post("/refresh", headers=bearer(pair["refresh_token"]))
            if final.status_code != 200:
                self.lost.append(f"final refresh {final.status_code} {final.text}")


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
def test_nobody_is_logged_out_and_no_token_is_lost(database_url: str, fault: str) -> None:
    target = urlsplit(database_url)
    env = {"DB_CONNECT_TIMEOUT_SECONDS": "1", "DB_COMMAND_TIMEOUT_SECONDS": "1", "RATE_LIMIT_ENABLED": "false"}
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy, \
            live_server(via(proxy, database_url), workers=2, **env) as base:
        stop = threading.Event()
        clients = [Client(base, stop) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        faults = 0
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.7)
            getattr(proxy, fault)()
            time.sleep(1.3)
            proxy.restore()
            faults += 1
        time.sleep(2)  # the last heal settles
        stop.set()
        for c in clients:
            c.join(60)
    refreshed, unavailable = sum(c.refreshed for c in clients), sum(c.unavailable for c in clients)
    print(f"{fault}: {faults} faults in {SECONDS:.0f} s, {refreshed} refreshes, {unavailable} answered 503, "
          f"{sum(bool(c.lost) for c in clients)} of {CLIENTS} clients logged out")
    assert faults >= 3 and unavailable > 0  # the drill did hit refreshes
    assert [c.lost for c in clients] == [[]] * CLIENTS
