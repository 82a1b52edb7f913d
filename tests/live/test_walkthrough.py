"""The README's curl walkthrough and a real OAuth2 client library, against a running server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.support import PASSWORD, ROOT, live_server

pytestmark = pytest.mark.usefixtures("user")


def readme_walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- walkthrough:start -->\s*```(?:sh|bash)\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert match, "README has no walkthrough block"
    return match.group(1)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_readme_curl_walkthrough(database_url: str) -> None:
    with live_server(database_url) as base:
        env = {**os.environ, "BASE": base, "USERNAME": "alice", "PASSWORD": PASSWORD}
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", readme_walkthrough()], env=env, capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert '"username":"alice"' in out.replace(" ", "")
    assert out.strip().splitlines()[-1] == "401"  # after logout the access token is dead


async def test_authlib_client_password_grant_and_automatic_refresh(database_url: str) -> None:
    with live_server(database_url, ACCESS_TOKEN_VALIDITY_MINUTES="0.05") as base:
        seen: list[dict[str, object]] = []

        async def update_token(token: dict[str, object], refresh_token: str | None = None, access_token: str | None = None) -> None:
            seen.append(dict(token))

        async with AsyncOAuth2Client(
            client_id="authlib-test",
            token_endpoint=f"{base}/user/oauth/token",
            token_endpoint_auth_method="none",
            update_token=update_token,
            leeway=10,  # longer than the 3 s token: Authlib refreshes before every request
        ) as oauth:
            token = await oauth.fetch_token(f"{base}/user/oauth/token", username="alice", password=PASSWORD)
            assert token["token_type"] == "Bearer" and token["expires_in"] == 3
            first_refresh = token["refresh_token"]
            me = await oauth.get(f"{base}/user/me")
            assert me.status_code == 200 and me.json()["username"] == "alice"
            r = await oauth.get(f"{base}/protected")
            assert r.status_code == 200
            assert len(seen) == 2, "Authlib should have refreshed before each request"
            rotated = [t["refresh_token"] for t in seen]
            assert len({first_refresh, *rotated}) == 3  # every refresh rotated the token
        async with httpx.AsyncClient() as http:
            replay = await http.post(
                f"{base}/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first_refresh}
            )
        assert replay.json()["error"] == "invalid_grant"
