"""`python -m app serve` without JWT_ISSUER: the issuer is the address served, so the
discovery document points at endpoints that answer and tokens name the server that
issued them (RFC 8414 §2, RFC 9068 §2.2) — never the default port of another server."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.support import PASSWORD, live_server

pytestmark = pytest.mark.usefixtures("user")


def test_without_jwt_issuer_the_served_address_is_the_issuer(database_url: str) -> None:
    with live_server(database_url, workers=2, JWT_ISSUER="") as base:  # workers build Settings of their own
        assert not base.endswith(":8000")
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=30).json()
        assert meta["issuer"] == base
        assert meta["token_endpoint"] == f"{base}/user/oauth/token"
        form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
        r = httpx.post(meta["token_endpoint"], data=form, timeout=30)
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert claims["iss"] == base
        r = httpx.get(f"{base}/user/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}, timeout=30)
        assert r.status_code == 200  # the worker that checks it expects the same issuer


def test_a_jwt_issuer_that_is_set_is_kept(database_url: str) -> None:
    with live_server(database_url, JWT_ISSUER="https://auth.example.com") as base:
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=30).json()
        assert meta["issuer"] == "https://auth.example.com"
