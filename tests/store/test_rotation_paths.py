"""Logins and refreshes write the same rows on either path: the driver path
(app.store.rotation: raw sqlite3 in a thread, or one asyncpg statement) that serves a
new session and a winning refresh, and the SQLAlchemy path (no driver path, or a
refresh that is refused). Same clock, same request: the stored
session, tokens and audit rows must read back identical through SQLAlchemy (types and
SQLite's text form of times included), on both backends."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db.models import AuditEvent, LoginSession, RefreshToken, table_of
from app.settings import Settings
from tests.support import app_client, login_pair

pytestmark = pytest.mark.usefixtures("user")

SESSION_FIELDS = (
    "user_id", "scope", "client_id", "created_at", "expires_at", "idle_expires_at", "last_refreshed_at",
    "revoked_at", "user_agent", "ip",
)
TOKEN_FIELDS = ("issued_at", "expires_at", "used_at", "successor_hash", "successor_pair")
AUDIT_FIELDS = ("at", "event", "user_id", "username", "client_id", "ip", "user_agent", "detail")


async def rows_after_one_refresh(settings: Settings, clock: FrozenClock, *, driver: bool) -> dict[str, Any]:
    async with app_client(settings, clock, peer=("198.51.100.9", 4000)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        if not driver:
            services.session_cache._inner._fast = None
        else:
            assert services.session_cache._inner._fast is not None
        pair = await login_pair(client, scope="read")
        clock.advance(minutes=7)
        r = await client.post(
            "/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
            headers={"User-Agent": "paths-test/1.0"},
        )
        assert r.status_code == 200, r.text
        sid = jwt.decode(str(pair["access_token"]), options={"verify_signature": False})["sid"]
        sessions, tokens, audit = (table_of(m) for m in (LoginSession, RefreshToken, AuditEvent))
        async with services.engine.connect() as conn:
            session = (await conn.execute(select(sessions).where(sessions.c.id == sid))).mappings().one()
            token_rows = (await conn.execute(
                select(tokens).where(tokens.c.session_id == sid).order_by(tokens.c.issued_at)
            )).mappings().all()
            events = (await conn.execute(
                select(audit).where(audit.c.session_id == sid).order_by(audit.c.id)
            )).mappings().all()
        return {
            "session": {k: session[k] for k in SESSION_FIELDS},
            "tokens": [{k: row[k] for k in TOKEN_FIELDS} for row in token_rows],
            "audit": [{k: row[k] for k in AUDIT_FIELDS} for row in events],
            "answer": {k: v for k, v in r.json().items() if k not in ("access_token", "refresh_token")},
        }


async def test_driver_and_sqlalchemy_paths_store_the_same(settings: Settings) -> None:
    driver = await rows_after_one_refresh(settings, FrozenClock(), driver=True)
    orm = await rows_after_one_refresh(settings, FrozenClock(), driver=False)
    assert driver == orm
    assert driver["session"]["last_refreshed_at"] is not None
    assert [t["used_at"] is not None for t in driver["tokens"]] == [True, False]
    assert [e["event"] for e in driver["audit"]] == ["login_succeeded", "refreshed"]
    assert all(e["ip"] == "198.51.100.9" and e["username"] == "alice" for e in driver["audit"])
    assert driver["audit"][1]["user_agent"] == "paths-test/1.0"
