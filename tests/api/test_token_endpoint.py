"""POST /user/oauth/token: RFC 6749 §4.3 and §6, error shapes of §5.2."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from app.store.users import UserRecord
from app.settings import Settings
from tests.support import PASSWORD, TEST_SECRET, bearer, create_user, login_pair, password_grant, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


def assert_no_store(r: httpx.Response) -> None:
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"


async def test_password_grant_returns_the_contract_body(client: httpx.AsyncClient) -> None:
    r = await password_grant(client)
    assert r.status_code == 200
    body = r.json()
    assert list(body)[:5] == ["access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1200
    assert body["refresh_expires_in"] == 3600
    assert body["session_expires_in"] == 24 * 3600
    assert body["scope"] == "profile read write"
    assert_no_store(r)


async def test_access_token_claims_follow_the_contract(client: httpx.AsyncClient) -> None:
    body = await login_pair(client)
    header = jwt.get_unverified_header(body["access_token"])
    # Tokens carry RFC 9068's aud since issue 4, so a decoder must name the audience.
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"], audience="authserver", options={"verify_exp": False, "verify_iat": False})
    assert header["typ"] == "at+jwt"
    assert {"sub", "sid", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 20 * 60
    assert len(claims["sid"]) == 32 and int(claims["sid"], 16) >= 0


async def test_json_body_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/user/oauth/token", json={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 200


async def test_wrong_password_and_unknown_user_are_indistinguishable(client: httpx.AsyncClient) -> None:
    wrong = await password_grant(client, password="nope")
    unknown = await password_grant(client, username="mallory", password="nope")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_grant"
    assert dict(wrong.headers) .keys() == dict(unknown.headers).keys()


async def test_every_failed_login_pays_the_same_verifications(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing parity by construction, counted rather than timed: with a legacy bcrypt
    hash stored, an unknown user, a wrong password on an argon2id hash and one on the
    bcrypt hash each verify once at both costs; a right argon2id password at its own."""
    from passlib.context import CryptContext

    from app.security import passwords

    bcrypt = CryptContext(schemes=["bcrypt"], bcrypt__rounds=4).hash(PASSWORD)
    await create_user(settings, "bob", hashed=bcrypt)
    hasher = passwords.CryptPasswordHasher()
    verified: list[str | None] = []
    for name in ("verify", "verify_and_update"):
        original = getattr(passwords.CryptContext, name)

        def spy(self: CryptContext, secret: str, hashed: str, _original: Any = original) -> Any:
            verified.append(hasher.cost_of(hashed))
            return _original(self, secret, hashed)

        monkeypatch.setattr(passwords.CryptContext, name, spy)

    both = sorted([hasher.default_cost, "$2b$04$"])
    for username in ("mallory", "alice", "bob"):
        verified.clear()
        assert (await password_grant(client, username=username, password="nope")).status_code == 400
        assert sorted(verified) == both  # type: ignore[type-var]
    verified.clear()
    assert (await password_grant(client)).status_code == 200
    assert verified == [hasher.default_cost]


@pytest.mark.parametrize(
    "data, error",
    [
        ({}, "invalid_request"),
        ({"username": "alice", "password": PASSWORD}, "invalid_request"),
        ({"grant_type": "password", "username": "alice"}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "rt_nope"}, "invalid_grant"),
        ({"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "admin"}, "invalid_scope"),
        ({"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": 'a"b'}, "invalid_scope"),
    ],
)
async def test_rfc6749_errors(client: httpx.AsyncClient, data: dict[str, str], error: str) -> None:
    r = await client.post("/user/oauth/token", data=data)
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert set(r.json()) <= {"error", "error_description"}
    assert_no_store(r)


@pytest.mark.parametrize(
    "content, ctype",
    [
        (b"grant_type=password&grant_type=password&username=alice&password=x", "application/x-www-form-urlencoded"),
        (b"grant_type=password&username=%ff%fe&password=x", "application/x-www-form-urlencoded"),
        (b"grant_type=password&username=al%00ice&password=x", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"grant_type": "password", "username": 5, "password": "x"}', "application/json"),
        (b'{"grant_type": "password", "username": "\\ud800", "password": "x"}', "application/json"),
        (b"<xml/>", "application/xml"),
        (b"&".join(b"k%d=v" % i for i in range(100)), "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_bodies_are_invalid_request(client: httpx.AsyncClient, content: bytes, ctype: str) -> None:
    r = await client.post("/user/oauth/token", content=content, headers={"content-type": ctype})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/user/oauth/token", data={"grant_type": "password", "username": "a" * 100_000, "password": "x"})
    assert r.status_code == 413
    assert r.json()["error"] == "invalid_request"
    assert len(r.headers["x-request-id"]) == 32  # refused by the request middleware, which still tags it
    for bad in (b"abc", b"-1x"):  # a length that is no number (HTTP servers refuse it first; ASGI can send it)
        r = await client.post("/user/oauth/token", content=b"grant_type=password", headers={"content-length": bad.decode()})
        assert r.status_code == 413


async def test_oversized_chunked_body_is_refused(client: httpx.AsyncClient) -> None:
    """No Content-Length to refuse up front: the body is counted as it arrives."""
    async def chunks(total: int) -> AsyncIterator[bytes]:
        yield b"grant_type=password&password=x&username="
        for _ in range(total // 4096):
            yield b"a" * 4096

    headers = {"content-type": "application/x-www-form-urlencoded"}
    r = await client.post("/user/oauth/token", content=chunks(100_000), headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "invalid_request"
    r = await client.post("/user/oauth/token", content=chunks(8192), headers=headers)  # small: read as usual
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_a_body_without_a_declared_length_is_counted() -> None:
    """Chunked over HTTP/1.1, or an HTTP/2 body: only Content-Length is refused up front."""
    from app.api.observability import RequestLog
    from app.errors import RequestTooLarge

    received = 0

    async def receive() -> dict[str, object]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 40_000, "more_body": True}

    async def app(scope: dict[str, object], receive: Any, send: Any) -> None:
        for _ in range(3):
            await receive()

    with pytest.raises(RequestTooLarge):
        scope = {"type": "http", "method": "POST", "headers": [(b"transfer-encoding", b"chunked")]}
        await RequestLog(app)(scope, receive, None)
    assert received == 2  # refused at the chunk that crossed 64 KiB, before a third was asked for


async def test_unicode_username_logs_in(client: httpx.AsyncClient, settings: object) -> None:
    from tests.support import create_user

    await create_user(settings, username="Zoë-日本", password="pässwörd ✓")  # type: ignore[arg-type]
    # NFD on the wire still finds the NFC-stored name.
    import unicodedata

    r = await password_grant(client, username=unicodedata.normalize("NFD", "Zoë-日本"), password="pässwörd ✓")
    assert r.status_code == 200, r.text


async def test_client_id_by_form_or_basic_with_empty_secret(client: httpx.AsyncClient) -> None:
    assert (await password_grant(client, client_id="cli")).status_code == 200
    basic = base64.b64encode(b"cli:").decode()
    r = await client.post(
        "/user/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200


@pytest.mark.parametrize("credentials", ["cli:secret", "not base64!", ":secret"])  # ":" is no client (test_docs.py)
async def test_unverifiable_client_credentials_are_invalid_client(client: httpx.AsyncClient, credentials: str) -> None:
    value = credentials if "!" in credentials else base64.b64encode(credentials.encode()).decode()
    r = await client.post(
        "/user/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        headers={"Authorization": f"Basic {value}"},
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")


async def test_refresh_grant_rotates(client: httpx.AsyncClient) -> None:
    first = await login_pair(client)
    r = await refresh_grant(client, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert_no_store(r)
    assert (await client.get("/protected", headers=bearer(second["access_token"]))).status_code == 200


async def test_reused_refresh_token_revokes_session(client: httpx.AsyncClient) -> None:
    first = await login_pair(client)
    other = await login_pair(client)
    second = (await refresh_grant(client, first["refresh_token"])).json()
    replay = await refresh_grant(client, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # the thief's replay killed the whole session: newest refresh and access token alike
    assert (await refresh_grant(client, second["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await client.get("/protected", headers=bearer(second["access_token"]))).status_code == 401
    # ...and no other session
    assert (await client.get("/protected", headers=bearer(other["access_token"]))).status_code == 200
    assert (await refresh_grant(client, other["refresh_token"])).status_code == 200


async def test_refresh_scope_may_only_narrow(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    wider = await refresh_grant(client, pair["refresh_token"], scope="profile admin")
    assert wider.json()["error"] == "invalid_scope"
    # refused before the token was spent: it still rotates
    narrow = await refresh_grant(client, pair["refresh_token"], scope="read")
    assert narrow.status_code == 200
    assert narrow.json()["scope"] == "read"
    me = await client.get("/user/me", headers=bearer(narrow.json()["access_token"]))
    assert me.json()["scopes"] == ["read"]
    # the session keeps its original grant for the next refresh
    again = await refresh_grant(client, narrow.json()["refresh_token"])
    assert again.json()["scope"] == "profile read write"


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    r = await refresh_grant(client, pair["access_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # and the real refresh token is untouched by that attempt
    assert (await refresh_grant(client, pair["refresh_token"])).status_code == 200


async def test_disabled_user_cannot_log_in_or_refresh(client: httpx.AsyncClient, settings: object, user: UserRecord) -> None:
    from sqlalchemy import update

    from app.db.engine import make_engine
    from app.db.models import User

    pair = await login_pair(client)
    engine = make_engine(settings)  # type: ignore[arg-type]
    async with engine.begin() as conn:
        await conn.execute(update(User.__table__).values(is_active=False))
    await engine.dispose()
    assert (await password_grant(client)).json()["error"] == "invalid_grant"
    assert (await refresh_grant(client, pair["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401


async def test_bcrypt_hash_is_upgraded_at_login(client: httpx.AsyncClient, settings: object, user: UserRecord) -> None:
    import bcrypt
    from sqlalchemy import select, update

    from app.db.engine import make_engine
    from app.db.models import User

    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    engine = make_engine(settings)  # type: ignore[arg-type]
    table = User.__table__
    async with engine.begin() as conn:
        await conn.execute(update(table).values(password_hash=legacy))
    assert (await password_grant(client)).status_code == 200
    async with engine.connect() as conn:
        stored = (await conn.execute(select(table.c.password_hash))).scalar_one()
    await engine.dispose()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await password_grant(client)).status_code == 200


def test_error_descriptions_are_rfc6749_charset() -> None:
    import app.errors as errors

    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.OAuthError):
            text = value.default_description
            assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in text), value
    json.dumps({})
