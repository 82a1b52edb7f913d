"""Asymmetric signing: RFC 9068 access tokens with a kid, the JWKS that verifies them,
rotation without downtime, key files, and the discovery document."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from app.clock import FrozenClock
from app.security.jwk import generate_private_key, signing_key
from app.settings import Settings
from tests.support import app_client, bearer, login_pair, refresh_grant
from tests.trust_support import rotate

pytestmark = pytest.mark.usefixtures("user")


@pytest.fixture(params=["EdDSA", "ES256", "RS256"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"jwt_algorithm": request.param, "jwt_issuer": "https://auth.example.com"})


def verify_with_jwks(token: str, jwks: dict[str, list[dict[str, str]]], **kw: object) -> dict[str, object]:
    """What a third party does: pick the JWK by kid, verify with its alg, check iss/aud."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = jwt.PyJWK(jwk)
    options = {"verify_exp": False, "verify_iat": False}
    return jwt.decode(token, key, algorithms=[jwk["alg"]], issuer="https://auth.example.com", audience="authserver", options=options, **kw)  # type: ignore[arg-type]


async def test_access_token_follows_rfc9068_and_verifies_with_the_jwks(client: httpx.AsyncClient, settings: Settings) -> None:
    pair = await login_pair(client, client_id="my-cli")
    token = str(pair["access_token"])
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == settings.jwt_algorithm and header["kid"]
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    claims = verify_with_jwks(token, r.json())
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "sid"} <= set(claims)
    assert claims["client_id"] == "my-cli" and claims["aud"] == "authserver"
    assert claims["exp"] - claims["iat"] == 20 * 60  # type: ignore[operator]
    assert all("d" not in k for k in r.json()["keys"])
    assert (await client.get("/user/me", headers=bearer(token))).status_code == 200


async def test_rotation_keeps_old_tokens_working_until_they_expire(
    client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    before = await login_pair(client)
    old_kid = jwt.get_unverified_header(str(before["access_token"]))["kid"]
    rotation = await rotate(settings, clock)
    after = (await refresh_grant(client, before["refresh_token"])).json()
    assert jwt.get_unverified_header(after["access_token"])["kid"] == rotation.new.kid != old_kid
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [rotation.new.kid, old_kid]
    for token in (before["access_token"], after["access_token"]):
        verify_with_jwks(str(token), jwks)
    # a second worker (another app on the same database) verifies both as well
    async with app_client(settings, clock) as other:
        for token in (before["access_token"], after["access_token"]):
            assert (await other.get("/protected", headers=bearer(token))).status_code == 200
    # once every token of the old key has expired, it leaves the JWKS
    clock.advance(minutes=20, seconds=5 + 60)
    assert [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]] == [rotation.new.kid]


async def test_a_rotated_key_is_published_a_minute_before_it_signs(
    client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    """So a verifier that refetches at most every 30 s (PyJWKClient) has the new key
    before it meets a token signed with it."""
    from datetime import timedelta

    first = await login_pair(client)
    old_kid = jwt.get_unverified_header(str(first["access_token"]))["kid"]
    rotation = await rotate(settings, clock, activate_in=timedelta(seconds=60))
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [rotation.new.kid, old_kid]
    pair = (await refresh_grant(client, first["refresh_token"])).json()
    assert jwt.get_unverified_header(pair["access_token"])["kid"] == old_kid
    clock.advance(seconds=60)
    pair = (await refresh_grant(client, pair["refresh_token"])).json()
    assert jwt.get_unverified_header(pair["access_token"])["kid"] == rotation.new.kid
    verify_with_jwks(pair["access_token"], jwks)  # the JWKS fetched a minute ago suffices


async def test_a_retired_key_verifies_nothing_even_a_token_it_could_sign(
    client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    """If a retired private key leaked, tokens forged with it must still fail."""
    from app.db.engine import make_engine
    from app.oauth.keys import key_encryption_key
    from app.oauth.stored_keys import unseal
    from app.store.signing_keys import SqlKeyStore

    pair = await login_pair(client)
    engine = make_engine(settings)
    store = SqlKeyStore(engine)
    old = await store.newest()
    assert old is not None
    leaked = unseal(old, await key_encryption_key(settings, engine, clock).cipher())
    await engine.dispose()
    await rotate(settings, clock)
    claims = jwt.decode(str(pair["access_token"]), options={"verify_signature": False})
    clock.advance(hours=1)
    forged = jwt.encode(
        {**claims, "iat": int(clock.now().timestamp()), "exp": int(clock.now().timestamp()) + 600},
        leaked.private, algorithm=leaked.algorithm, headers={"typ": "at+jwt", "kid": leaked.kid},
    )
    fresh = await login_pair(client)
    assert (await client.get("/protected", headers=bearer(fresh["access_token"]))).status_code == 200
    r = await client.get("/protected", headers=bearer(forged))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_discovery_document_names_every_endpoint(client: httpx.AsyncClient, settings: Settings) -> None:
    r = await client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.json()
    base = "https://auth.example.com"
    assert meta["issuer"] == base
    assert meta["token_endpoint"] == base + "/user/oauth/token"
    assert meta["revocation_endpoint"] == base + "/oauth/revoke"
    assert meta["introspection_endpoint"] == base + "/oauth/introspect"
    assert meta["jwks_uri"] == base + "/.well-known/jwks.json"
    assert meta["grant_types_supported"] == ["password", "refresh_token"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]
    assert meta["scopes_supported"] == ["profile", "read", "write"]
    assert "response_types_supported" in meta


def _pem_files(tmp_path: Path, algorithm: str) -> tuple[str, str, str]:
    current, previous = generate_private_key(algorithm), generate_private_key(algorithm)
    a, b = tmp_path / "current.pem", tmp_path / "previous.pub.pem"
    a.write_bytes(current.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    b.write_bytes(previous.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(a), str(b), signing_key(previous, algorithm).kid


async def test_keys_from_files_sign_and_earlier_ones_stay_published(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    private, public, previous_kid = _pem_files(tmp_path, settings.jwt_algorithm)
    files = settings.model_copy(update={"jwt_private_key_file": private, "jwt_public_key_files": public})
    async with app_client(files, clock) as client:
        pair = await login_pair(client)
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert len(jwks["keys"]) == 2 and jwks["keys"][1]["kid"] == previous_kid
        verify_with_jwks(str(pair["access_token"]), jwks)
        assert (await client.get("/user/me", headers=bearer(pair["access_token"]))).status_code == 200


async def test_hs256_tokens_carry_a_kid_and_publish_no_key(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings.model_copy(update={"jwt_algorithm": "HS256"}), clock) as client:
        pair = await login_pair(client)
        header = jwt.get_unverified_header(str(pair["access_token"]))
        assert header["alg"] == "HS256" and header["kid"].startswith("hs-")
        assert (await client.get("/.well-known/jwks.json")).json() == {"keys": []}
        assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
