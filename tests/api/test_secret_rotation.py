"""Replacing JWT_SECRET without logging anyone out: the old secret, listed in
JWT_PREVIOUS_SECRETS, keeps verifying the access tokens it signed (and only verifies);
without it they are refused and clients refresh. Bad settings stop start-up with one
line that never shows a secret."""

from __future__ import annotations

import httpx
import jwt
import pytest
from pydantic import ValidationError

from app.clock import SystemClock
from app.settings import Settings, describe_error
from tests.support import PASSWORD, app_client

pytestmark = pytest.mark.usefixtures("user")
OLD = "old-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"
NEW = "new-secret-9876543210-ZYXWVUTSRQPONMLKJIHGFEDCBA-zyxwvu"


def settings_with(base: Settings, **values: object) -> Settings:
    return Settings(**{**base.model_dump(exclude={"jwt_secret", "jwt_previous_secrets"}), **values}, _env_file=None)  # type: ignore[arg-type]


async def call(settings: Settings, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with app_client(settings, SystemClock()) as http:
        return await http.request(method, path, **kwargs)  # type: ignore[arg-type]


async def login(settings: Settings) -> dict[str, str]:
    r = await call(settings, "POST", "/user/oauth/token",
                   data={"grant_type": "password", "username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    pair: dict[str, str] = r.json()
    return pair


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_of_the_previous_secret_verify_until_it_is_removed(settings: Settings) -> None:
    before = settings_with(settings, jwt_secret=OLD)
    pair = await login(before)
    rotated = settings_with(settings, jwt_secret=NEW, jwt_previous_secrets=f" {OLD} ,")

    assert (await call(rotated, "GET", "/protected", headers=bearer(pair["access_token"]))).status_code == 200
    fresh = await login(rotated)  # new tokens are signed with the new secret, under its own kid
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] != jwt.get_unverified_header(pair["access_token"])["kid"]
    jwt.decode(fresh["access_token"], NEW, algorithms=["HS256"], options={"verify_aud": False})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(fresh["access_token"], OLD, algorithms=["HS256"], options={"verify_aud": False})

    removed = settings_with(settings, jwt_secret=NEW)
    refused = await call(removed, "GET", "/protected", headers=bearer(pair["access_token"]))
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    # refresh tokens are not JWTs: the session goes on with the new secret
    r = await call(removed, "POST", "/user/oauth/token",
                   data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    assert r.status_code == 200
    assert (await call(removed, "GET", "/protected", headers=bearer(r.json()["access_token"]))).status_code == 200


async def test_a_token_forged_with_an_unlisted_secret_is_refused(settings: Settings) -> None:
    rotated = settings_with(settings, jwt_secret=NEW, jwt_previous_secrets=OLD)
    genuine = await login(rotated)
    claims = jwt.decode(genuine["access_token"], NEW, algorithms=["HS256"], options={"verify_aud": False})
    header = jwt.get_unverified_header(genuine["access_token"])
    forged = jwt.encode(claims, "some-other-secret-0123456789-abcdefghijklmnop", algorithm="HS256", headers=header)
    assert (await call(rotated, "GET", "/protected", headers=bearer(forged))).status_code == 401


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jwt_algorithm": "EdDSA", "jwt_previous_secrets": OLD}, "JWT_PREVIOUS_SECRETS needs JWT_ALGORITHM HS256"),
        ({"app_env": "production", "jwt_secret": NEW, "jwt_previous_secrets": f"{OLD},short-one"},
         "JWT_PREVIOUS_SECRETS holds a secret too weak"),
    ],
)
def test_bad_previous_secrets_stop_start_up_without_showing_them(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
    line = describe_error(caught.value)
    assert message in line and "\n" not in line
    assert OLD not in line and "short-one" not in line and NEW not in line


def test_strong_previous_secrets_pass_in_production() -> None:
    settings = Settings(_env_file=None, app_env="production", jwt_secret=NEW, jwt_previous_secrets=f"{OLD}, {OLD}")  # type: ignore[arg-type]
    assert settings.previous_secrets == (OLD,)
    assert OLD not in repr(settings)
