"""Against a real server: clients registered with `python -m app clients create`, found
through the RFC 8414 discovery document by Authlib's client, which revokes (RFC 7009)
and introspects (RFC 7662) through the endpoints it discovered."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.live.test_keys_rotation import cli, trusted_server
from tests.support import PASSWORD, ROOT, server_env

pytestmark = pytest.mark.usefixtures("user")


async def test_authlib_revokes_and_introspects_through_discovered_endpoints(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"JWT_ALGORITHM": "ES256"}
    with ThreadPoolExecutor() as pool:
        creating = [
            pool.submit(cli, database_url, "clients", "create", "resource-api", "--confidential", **env),
            pool.submit(cli, database_url, "clients", "create", "web-app", "--scope", "profile read", **env),
        ]
        resource_api, web = (f.result() for f in creating)
    assert str(resource_api["client_secret"]).startswith("cs_") and "client_secret" not in web
    listed = list_clients(database_url)  # the secret was shown once, never again
    assert {r["client_id"] for r in listed} == {resource_api["client_id"], web["client_id"]}
    assert not any("client_secret" in r for r in listed)
    with trusted_server(database_url, monkeypatch, **env) as base:
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
        assert meta["issuer"] == base

        async with AsyncOAuth2Client(
            client_id=str(web["client_id"]), token_endpoint=meta["token_endpoint"], token_endpoint_auth_method="none",
        ) as app, AsyncOAuth2Client(
            client_id=str(resource_api["client_id"]), client_secret=str(resource_api["client_secret"]),
        ) as rs:
            token = await app.fetch_token(meta["token_endpoint"], username="alice", password=PASSWORD)
            assert token["scope"] == "profile read"  # alice also has write; web-app may not carry it
            # a third party verifies it from jwks_uri alone, with iss and aud
            key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token["access_token"])
            claims = jwt.decode(token["access_token"], key, algorithms=["ES256"], issuer=base, audience="authserver")
            assert claims["client_id"] == web["client_id"]

            info = (await rs.introspect_token(meta["introspection_endpoint"], token=token["access_token"])).json()
            assert info["active"] is True and info["username"] == "alice" and info["client_id"] == web["client_id"]

            r = await app.revoke_token(meta["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
            assert r.status_code == 200

            for kind in ("access_token", "refresh_token"):
                r = await rs.introspect_token(meta["introspection_endpoint"], token=token[kind], token_type_hint=kind)
                assert r.json() == {"active": False}
            assert (await app.get(f"{base}/user/me")).status_code == 401

            # the public client cannot introspect; a wrong secret is invalid_client
            r = await app.introspect_token(meta["introspection_endpoint"], token=token["access_token"])
            assert r.status_code == 401 and r.json()["error"] == "invalid_client"
            async with AsyncOAuth2Client(client_id=str(resource_api["client_id"]), client_secret="cs_wrong") as bad:
                r = await bad.introspect_token(meta["introspection_endpoint"], token=token["access_token"])
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")


def list_clients(database_url: str) -> list[dict[str, object]]:
    listed = subprocess.run(
        [sys.executable, "-m", "app", "clients", "list"], cwd=ROOT, env=server_env(database_url),
        capture_output=True, text=True, timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]
