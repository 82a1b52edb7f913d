"""Helpers for the tests of issue 4 (keys, JWKS, discovery, clients, scopes)."""

from __future__ import annotations

import base64
from datetime import timedelta

from app.clock import FrozenClock
from app.db.engine import make_engine
from app.db.runner import make_runner
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
    runner = make_runner(settings, engine)
    try:
        await SqlClientStore(engine, runner).create(record)
    finally:
        await runner.close()
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


def raw_jwt(header: dict[str, object], claims: dict[str, object], signature: bytes = b"not a signature") -> str:
    """A JWT with exactly this header, which PyJWT would not produce (it sets alg itself)."""
    import json

    from app.security.jwk import b64url

    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(b64url(p) for p in parts)
