"""Against a real server: `python -m app keys rotate` while a client keeps working, and
third-party verification before and after the rotation: PyJWT's PyJWKClient and our
resource-server helper, each knowing only the JWKS URL. (That a second worker verifies
the new key at once is shown in-process, in tests/api/test_keys_jwks.py.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI

from app.api.resource_server import ResourceServer
from app.security.jwt import AccessClaims
from tests import support
from tests.support import PASSWORD, ROOT, live_server, server_env

pytestmark = pytest.mark.usefixtures("user")
ALGORITHM = "EdDSA"


@contextmanager
def trusted_server(database_url: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[str]:
    """A live server whose JWT_ISSUER is its own URL, as in production."""
    port = support.free_port()
    monkeypatch.setattr(support, "free_port", lambda: port)
    base = f"http://127.0.0.1:{port}"
    with live_server(database_url, JWT_ISSUER=base, **env) as url:
        assert url == base
        yield base


def cli(database_url: str, *args: str, **env: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, env=server_env(database_url, **env),
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def kid_of(token: object) -> str:
    return str(jwt.get_unverified_header(str(token))["kid"])


def pyjwt_verify(jwks: jwt.PyJWKClient, token: object, base: str) -> dict[str, object]:
    key = jwks.get_signing_key_from_jwt(str(token))
    claims: dict[str, object] = jwt.decode(
        str(token), key, algorithms=[ALGORITHM], issuer=base, audience="authserver", leeway=30,
    )
    return claims


def service_app(base: str) -> FastAPI:
    """Another team's FastAPI service: it knows our JWKS URL, issuer and audience, nothing else."""
    app = FastAPI()
    auth = ResourceServer(jwks_url=f"{base}/.well-known/jwks.json", issuer=base, audience="authserver")
    auth.install(app)

    @app.get("/orders")
    async def orders(claims: AccessClaims = auth.require("read")) -> dict[str, object]:
        return {"sub": claims.sub, "kid_ok": True}

    return app


async def test_rotation_while_a_client_keeps_working(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"JWT_ALGORITHM": ALGORITHM}
    with trusted_server(database_url, monkeypatch, **env) as base:
        service = httpx.AsyncClient(transport=httpx.ASGITransport(app=service_app(base)), base_url="http://service")
        async with AsyncOAuth2Client(
            client_id="rotation-test", token_endpoint=f"{base}/user/oauth/token", token_endpoint_auth_method="none",
        ) as oauth, service:
            token = await oauth.fetch_token(f"{base}/user/oauth/token", username="alice", password=PASSWORD)
            old_kid = kid_of(token["access_token"])
            before = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")  # default settings, as users run it
            assert pyjwt_verify(before, token["access_token"], base)["client_id"] == "rotation-test"
            assert (await service.get("/orders", headers={"Authorization": f"Bearer {token['access_token']}"})).status_code == 200

            statuses: list[int] = []
            kids: list[str] = []

            async def keep_working() -> None:
                """The client refreshes and calls the API throughout."""
                for _ in range(8):
                    r = await oauth.get(f"{base}/user/me")
                    statuses.append(r.status_code)
                    refreshed = await oauth.refresh_token(f"{base}/user/oauth/token")
                    kids.append(kid_of(refreshed["access_token"]))

            rotate = asyncio.to_thread(cli, database_url, "keys", "rotate", "--activate-in", "2", **env)
            rotation, _ = await asyncio.gather(rotate, keep_working())
            new_kid = str(rotation["kid"])
            assert new_kid != old_kid and rotation["verifying"][0]["kid"] == old_kid  # type: ignore[index]

            # Published before it signs: a verifier that fetches the JWKS now already holds it.
            jwks = httpx.get(f"{base}/.well-known/jwks.json").json()
            assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]
            after = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")
            assert pyjwt_verify(after, oauth.token["access_token"], base)["sub"]
            # The old key keeps verifying, for the server and for both verifiers.
            for verifier in (before, after):
                pyjwt_verify(verifier, token["access_token"], base)
            for _ in range(2):
                r = await oauth.get(f"{base}/user/me", headers={"Authorization": f"Bearer {token['access_token']}"})
                assert r.status_code == 200

            # The client keeps refreshing until the new key signs (two seconds after the rotation).
            deadline = time.monotonic() + 30
            while kid_of(oauth.token["access_token"]) != new_kid:
                assert time.monotonic() < deadline, "the new key never started signing"
                await oauth.refresh_token(f"{base}/user/oauth/token")
                statuses.append((await oauth.get(f"{base}/user/me")).status_code)
            assert set(statuses) == {200}
            fresh = oauth.token["access_token"]
            # PyJWKClient verifies it from the set it fetched during the pre-publication...
            assert pyjwt_verify(after, fresh, base)["iss"] == base
            # ...and our helper refetches on the unknown kid, from the real server.
            r = await service.get("/orders", headers={"Authorization": f"Bearer {fresh}"})
            assert r.status_code == 200, r.text
            for stale in (token["access_token"], fresh):
                assert (await oauth.get(f"{base}/protected", headers={"Authorization": f"Bearer {stale}"})).status_code == 200

            # The helper answers like the server: 401 for a forged token, 403 for a missing scope.
            narrow = await oauth.refresh_token(f"{base}/user/oauth/token", scope="profile")
            r = await service.get("/orders", headers={"Authorization": f"Bearer {narrow['access_token']}"})
            assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]
            r = await service.get("/orders", headers={"Authorization": f"Bearer {fresh[:-4]}AAAA"})
            assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
            assert (await service.get("/orders")).status_code == 401
