"""`python -m app clients reset-secret` and `clients delete` against a real server: the
old secret stops working at once; a deleted client's sessions end (its refresh tokens are
refused from anyone, its access tokens within the contract's bound), other sessions are
untouched, a wrong id changes nothing, and both actions are audited."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.live.test_keys_rotation import cli
from tests.support import PASSWORD, ROOT, live_server, server_env

pytestmark = pytest.mark.usefixtures("user")
LOGIN = {"grant_type": "password", "username": "alice", "password": PASSWORD}


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, env=server_env(database_url),
        capture_output=True, text=True, timeout=60,
    )


def audited(database_url: str, event: str) -> list[dict[str, object]]:
    done = run_cli(database_url, "audit", "tail", "--event", event)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def assert_refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert done.stderr.startswith("error: ") and message in done.stderr


def test_reset_secret_replaces_it_at_once(database_url: str) -> None:
    created = cli(database_url, "clients", "create", "orders", "--confidential")
    client_id, old = str(created["client_id"]), str(created["client_secret"])
    public = cli(database_url, "clients", "create", "web-app")
    with live_server(database_url) as base:
        def token(secret: str) -> httpx.Response:
            return httpx.post(f"{base}/user/oauth/token", data=LOGIN, auth=(client_id, secret))

        assert token(old).status_code == 200
        reset = cli(database_url, "clients", "reset-secret", client_id)
        new = str(reset["client_secret"])
        assert reset["client_id"] == client_id and new.startswith("cs_") and new != old
        refused = token(old)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert token(new).status_code == 200

    # a public client has no secret to replace, an unknown id is no client: nothing changes
    assert_refused(run_cli(database_url, "clients", "reset-secret", str(public["client_id"])), "no confidential client")
    assert_refused(run_cli(database_url, "clients", "reset-secret", "c_unknown"), "no confidential client")
    listed = {r["client_id"]: r for r in map(json.loads, run_cli(database_url, "clients", "list").stdout.splitlines())}
    assert listed[str(public["client_id"])]["token_endpoint_auth_method"] == "none"
    assert not any("client_secret" in r for r in listed.values())

    events = audited(database_url, "client_secret_reset")
    assert [e["client_id"] for e in events] == [client_id]


def test_delete_ends_its_sessions_and_nothing_else(database_url: str) -> None:
    client_id = str(cli(database_url, "clients", "create", "mobile", "--scope", "profile read")["client_id"])
    with live_server(database_url) as base:
        mine = httpx.post(f"{base}/user/oauth/token", data={**LOGIN, "client_id": client_id}).json()
        other = httpx.post(f"{base}/user/oauth/token", data=LOGIN).json()
        for pair in (mine, other):
            assert httpx.get(f"{base}/protected", headers=_bearer(pair)).status_code == 200

        assert_refused(run_cli(database_url, "clients", "delete", "c_unknown"), "no client")
        deleted = cli(database_url, "clients", "delete", client_id)
        assert deleted == {"client_id": client_id, "deleted": True, "sessions_ended": 1}

        # once the client is gone its id is an unregistered one, which anyone may claim:
        # the session's refresh token must not work for anyone, with or without the id
        for data in ({}, {"client_id": client_id}):
            r = httpx.post(f"{base}/user/oauth/token",
                           data={"grant_type": "refresh_token", "refresh_token": mine["refresh_token"], **data})
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert _refused_within(base, mine, seconds=2.0)  # the contract's bound is 1 s; other processes learn by the feed

        assert httpx.get(f"{base}/protected", headers=_bearer(other)).status_code == 200
        r = httpx.post(f"{base}/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"]})
        assert r.status_code == 200

    assert client_id not in run_cli(database_url, "clients", "list").stdout
    assert_refused(run_cli(database_url, "clients", "delete", client_id), "no client")
    events = audited(database_url, "client_deleted")
    assert [(e["client_id"], e["detail"]) for e in events] == [(client_id, "ended 1 sessions")]


def _bearer(pair: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _refused_within(base: str, pair: dict[str, str], *, seconds: float) -> bool:
    """Polls: the server learns of a revocation by another process through its feed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/protected", headers=_bearer(pair)).status_code == 401:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("args", [("clients", "list"), ("clients", "delete", "c_x"), ("users", "disable", "bob")])
def test_an_unreachable_database_is_one_error_line(database_url: str, args: tuple[str, ...]) -> None:
    """Any command, not only these: the CLI answers one line and status 1, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=server_env("postgresql://postgres@127.0.0.1:1/nowhere", DB_CONNECT_TIMEOUT_SECONDS="2"),
    )
    assert_refused(done, "the database cannot be used")
