"""Helpers the client tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx

from tests.support import ROOT, live_server

USERNAME = "alice"
PYTHON = sys.executable
HERE = Path(__file__).resolve().parent


def short_live_server(database_url: str) -> AbstractContextManager[str]:
    """The server with 3-second access tokens (a refresh is due at 1.5 s) and no clock-skew
    leeway, so an expired token really is refused within a test."""
    return live_server(database_url, ACCESS_TOKEN_VALIDITY_MINUTES="0.05", JWT_LEEWAY_SECONDS="0")


class TokenCalls:
    """Counts POSTs to the token endpoint, by grant type, through httpx event hooks on the
    client's own http client: what the server actually received from it."""

    def __init__(self) -> None:
        self.grants: list[str] = []

    def _record(self, request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/user/oauth/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            self.grants.append(form.get("grant_type", "?"))

    @property
    def refreshes(self) -> int:
        return self.grants.count("refresh_token")

    def sync_client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"request": [self._record]}, timeout=10)

    def async_client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        """`transport`: an in-process app's (httpx.ASGITransport) instead of the network."""
        async def hook(request: httpx.Request) -> None:
            self._record(request)

        return httpx.AsyncClient(event_hooks={"request": [hook]}, timeout=10, transport=transport)


class ClientClock:
    """The client's clock (`clock=`), in epoch seconds: it starts at the real time and
    then moves only when the test moves it, so a token falls due without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def move_to(self, moment: float) -> None:
        self.now = moment


def subprocess_env(**extra: str) -> dict[str, str]:
    """An environment in which `python -m authclient` imports this checkout's client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHCLIENT_", "XDG_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env

