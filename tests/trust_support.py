"""Helpers for the tests of issue 4 (keys, JWKS, discovery, clients, scopes)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from app.clock import FrozenClock
from app.db.engine import make_engine
from app.main import create_app
from app.oauth.clients import new_registration
from app.oauth.keys import key_encryption_key
from app.oauth.key_rotation import Rotation, rotate_keys
from app.oauth.stored_keys import KeyPolicy
from app.settings import Settings
from app.store.clients import ClientRecord, SqlClientStore
from app.store.signing_keys import SqlKeyStore


async def register_client(
    settings: Settings, name: str = "svc", *, confidential: bool = True,
    grant_types: tuple[str, ...] = ("password", "refresh_token"), scope: str = "profile read write",
    clock: FrozenClock | None = None,
) -> tuple[ClientRecord, str | None]:
    record, secret = new_registration(
        name, confidential=confidential, grant_types=list(grant_types), scope=scope.split(),
        now=(clock or FrozenClock()).now(),
    )
    engine = make_engine(settings)
    try:
        await SqlClientStore(engine).create(record)
    finally:
        await engine.dispose()
    return record, secret


async def rotate(settings: Settings, clock: FrozenClock, activate_in: timedelta = timedelta(0)) -> Rotation:
    """What `python -m app keys rotate --activate-in N` does, at the frozen clock's time."""
    engine = make_engine(settings)
    policy = KeyPolicy.for_lifetimes(
        settings.jwt_algorithm, timedelta(minutes=settings.access_token_validity_minutes),
        timedelta(seconds=settings.jwt_leeway_seconds),
    )
    try:
        kek = key_encryption_key(settings, engine, clock)
        return await rotate_keys(SqlKeyStore(engine), kek, policy, clock, activate_in)
    finally:
        await engine.dispose()


def basic(client_id: str, secret: str | None = "") -> dict[str, str]:
    raw = f"{client_id}:{secret or ''}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@asynccontextmanager
async def app_client(settings: Settings, clock: FrozenClock, app: FastAPI | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = app or create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await app.state.services.aclose()


def raw_jwt(header: dict[str, object], claims: dict[str, object], signature: bytes = b"not a signature") -> str:
    """A JWT with exactly this header, which PyJWT would not produce (it sets alg itself)."""
    import json

    from app.security.jwk import b64url

    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(b64url(p) for p in parts)
