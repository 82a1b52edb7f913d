"""authclient against a server that allows registered clients only
(ALLOW_UNREGISTERED_PUBLIC_CLIENTS=false, what the README recommends): a public client
names itself with `client_id` in the form, a confidential one authenticates with HTTP
Basic (RFC 6749 §2.3.1), from the constructor, the CLI's flags and its environment."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from app.settings import Settings
from authclient import AsyncAuthClient, AuthClient, LoginFailed, SessionFile
from tests.client.helpers import PYTHON, USERNAME, subprocess_env
from tests.support import live_server
from tests.trust_support import register_client


@dataclasses.dataclass(frozen=True)
class Strict:
    server: str
    public_id: str
    confidential_id: str
    secret: str


@pytest.fixture
def strict(database_url: str, settings: Settings, user: object) -> Iterator[Strict]:
    public, _ = asyncio.run(register_client(settings, "cli", confidential=False))
    confidential, secret = asyncio.run(register_client(settings, "svc"))
    assert secret is not None
    with live_server(database_url, ALLOW_UNREGISTERED_PUBLIC_CLIENTS="false") as base:
        yield Strict(base, public.client_id, confidential.client_id, secret)


def client_claim(access_token: str) -> object:
    return jwt.decode(access_token, options={"verify_signature": False}).get("client_id")


class Seen:
    """What the token endpoint received: each request's Authorization header and form."""

    def __init__(self) -> None:
        self.requests: list[tuple[str | None, dict[str, str]]] = []

    async def hook(self, request: httpx.Request) -> None:
        if request.url.path == "/user/oauth/token":
            self.requests.append((request.headers.get("authorization"), dict(httpx.QueryParams(request.content.decode()))))


def test_without_a_client_the_server_refuses_the_login(strict: Strict, password: str) -> None:
    with AuthClient(strict.server) as auth, pytest.raises(LoginFailed) as refused:
        auth.login(USERNAME, password)
    assert refused.value.error == "invalid_client"


def test_public_client_from_the_constructor_logs_in_and_refreshes(strict: Strict, password: str, tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    with AuthClient(strict.server, session_file=path, client_id=strict.public_id) as auth:
        first = auth.login(USERNAME, password)
        assert first.client_id == strict.public_id and client_claim(first.access_token) == strict.public_id
        second = auth.refresh()
        assert second.refresh_token != first.refresh_token
        assert auth.whoami()["username"] == USERNAME
    # the session names its client: a program sharing the file refreshes without being told
    with AuthClient(strict.server, session_file=path) as other:
        third = other.refresh()
        assert client_claim(third.access_token) == strict.public_id


async def test_confidential_client_from_the_constructor_authenticates_with_basic(strict: Strict, password: str) -> None:
    seen = Seen()
    http = httpx.AsyncClient(event_hooks={"request": [seen.hook]}, timeout=10)
    async with http, AsyncAuthClient(strict.server, http_client=http, client_id=strict.confidential_id,
                                     client_secret=strict.secret) as auth:
        assert strict.secret not in repr(auth)
        first = await auth.login(USERNAME, password)
        second = await auth.refresh()
    assert second.refresh_token != first.refresh_token
    assert client_claim(second.access_token) == strict.confidential_id
    expected = "Basic " + base64.b64encode(f"{strict.confidential_id}:{strict.secret}".encode()).decode()
    assert [header for header, _ in seen.requests] == [expected, expected]
    assert all("client_secret" not in form and "client_id" not in form for _, form in seen.requests)


def _cli(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "authclient", *args], input=stdin, capture_output=True, text=True,
                          env=subprocess_env(**env), timeout=30)


@pytest.mark.parametrize("kind", ["public", "confidential"])
@pytest.mark.parametrize("source", ["flags", "env"])
def test_cli_logs_in_and_refreshes_with_a_registered_client(
    strict: Strict, password: str, tmp_path: Path, kind: str, source: str
) -> None:
    client_id = strict.public_id if kind == "public" else strict.confidential_id
    secret = strict.secret if kind == "confidential" else None
    session_file = tmp_path / "session.json"
    args, env = ["--server", strict.server, "--session-file", str(session_file)], {}
    if source == "flags":
        args += ["--client-id", client_id] + (["--client-secret", secret] if secret else [])
    else:
        env = {"AUTHCLIENT_CLIENT_ID": client_id, **({"AUTHCLIENT_CLIENT_SECRET": secret} if secret else {})}

    login = _cli("login", USERNAME, "--password-stdin", *args, stdin=password, **env)
    assert login.returncode == 0, login.stderr
    assert secret is None or secret not in login.stdout + login.stderr
    # The CLI runs on the real clock: the stored session is made due for a refresh now.
    stored = SessionFile(session_file)
    before = stored.load(strict.server)
    assert before is not None and before.client_id == client_id
    stored.save(dataclasses.replace(before, access_expires_at=time.time() + 10))

    token = _cli("token", *args, **env)
    assert token.returncode == 0, token.stderr
    access = token.stdout.strip()
    assert access != before.access_token and client_claim(access) == client_id
    after = stored.load(strict.server)
    assert after is not None and after.refresh_token != before.refresh_token


def test_cli_refuses_a_secret_without_its_client_id(tmp_path: Path) -> None:
    result = _cli("status", "--server", "http://127.0.0.1:9", "--session-file", str(tmp_path / "s.json"),
                  AUTHCLIENT_CLIENT_SECRET="cs_lonely")
    assert result.returncode == 2 and "client_id" in result.stderr and "cs_lonely" not in result.stderr
