"""Bad input at scale: schemathesis generates requests from our own /openapi.json against
a live server, with a real access token so the authenticated paths are reached. Any 5xx,
any undocumented status code, or a protected route that answers without auth is a finding."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.support import PASSWORD, create_user, live_server

pytestmark = pytest.mark.usefixtures("user")
CHECKS = "not_a_server_error,status_code_conformance,ignored_auth"
# Routes that end the caller's own session when fed our own ids (schemathesis harvests
# them from responses): they get a token of their own.
ENDING = [
    "/user/sessions/{session_id}", "/admin/users/{username}/sessions/{session_id}", "/admin/users/{username}/disable",
    "/admin/users/{username}", "/admin/users/{username}/password", "/admin/users/{username}/scope",
    "/admin/users/{username}/sessions",
]


def schemathesis(base: str, *args: str) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    return subprocess.run(
        [str(st), "run", f"{base}/openapi.json", "--checks", CHECKS, "--max-examples", "40",
         "--seed", "20261122", "--no-color",
         # no stateful phase: its inferred links feed our own username into
         # /admin/users/{username}/disable, which (correctly) ends the test's session
         "--phases", "examples,coverage,fuzzing", *args],
        capture_output=True, text=True, timeout=600,
    )


async def test_schemathesis_finds_nothing(database_url: str, settings: Settings) -> None:
    # an admin, so the admin routes are reached too
    await create_user(settings, username="root", scope="profile read write admin")
    with live_server(database_url, RATE_LIMIT_ENABLED="false") as base:
        form = {"grant_type": "password", "username": "root", "password": PASSWORD}
        pair = httpx.post(f"{base}/user/oauth/token", data=form).json()
        spare = httpx.post(f"{base}/user/oauth/token", data=form).json()
        # /refresh takes the refresh token; logout and ending a session (schemathesis finds
        # the session id in our own responses) end the token's session: own runs each.
        authed = schemathesis(
            base, "-H", f"Authorization: Bearer {pair['access_token']}",
            "--exclude-path", "/user/_logout", "--exclude-path", "/refresh",
            *(arg for path in ENDING for arg in ("--exclude-path", path)),
        )
        assert authed.returncode == 0, authed.stdout[-6000:]
        assert "Authentication failed" not in authed.stdout, authed.stdout[-3000:]
        refresh = schemathesis(base, "-H", f"Authorization: Bearer {pair['refresh_token']}", "--include-path", "/refresh")
        assert refresh.returncode == 0, refresh.stdout[-6000:]
        ending = schemathesis(
            base, "-H", f"Authorization: Bearer {spare['access_token']}",
            *(arg for path in ENDING for arg in ("--include-path", path)),
        )
        assert ending.returncode == 0, ending.stdout[-6000:]
        logout = schemathesis(base, "--include-path", "/user/_logout")
        assert logout.returncode == 0, logout.stdout[-6000:]
    for run in (authed, refresh, ending, logout):
        assert re.search(r"\d+ generated, \d+ passed", run.stdout)
        assert not re.search(r"\b\d+ (failed|errored)", run.stdout), run.stdout[-3000:]
