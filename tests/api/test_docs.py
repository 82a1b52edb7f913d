"""The interactive docs work for a new user: the pages load without internet access,
the Authorize dialog's defaults log in (an empty Basic header, every scope selected),
and logout can be tried from them. tests/live/test_docs_browser.py clicks through the
same in a real browser."""

from __future__ import annotations

import base64
import re
from urllib.parse import urljoin

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from app.store.users import UserRecord
from tests.support import PASSWORD, app_client, bearer, create_user, password_grant
from tests.trust_support import register_client

LOGIN = {"grant_type": "password", "username": "alice", "password": PASSWORD}
EMPTY_BASIC = ["Basic", "Basic ", "Basic " + base64.b64encode(b":").decode(), "basic Og=="]


@pytest.mark.usefixtures("user")
@pytest.mark.parametrize("header", EMPTY_BASIC)
async def test_empty_basic_header_is_no_client(client: httpx.AsyncClient, header: str) -> None:
    """What Swagger UI's password flow sends when its client_id and secret are left empty."""
    r = await client.post("/user/oauth/token", data=LOGIN, headers={"Authorization": header})
    assert r.status_code == 200, r.text
    me = await client.get("/user/me", headers=bearer(r.json()["access_token"]))
    assert me.json()["username"] == "alice"


@pytest.mark.usefixtures("user")
async def test_empty_basic_header_beside_a_form_client_id_names_that_client(client: httpx.AsyncClient) -> None:
    r = await client.post("/user/oauth/token", data={**LOGIN, "client_id": "legacy-cli"}, headers={"Authorization": "Basic Og=="})
    assert r.status_code == 200, r.text


@pytest.mark.usefixtures("user")
async def test_empty_basic_header_is_refused_where_a_client_is_required(settings: Settings, clock: FrozenClock) -> None:
    strict = settings.model_copy(update={"allow_unregistered_public_clients": False})
    async with app_client(strict, clock) as client:
        r = await client.post("/user/oauth/token", data=LOGIN, headers={"Authorization": "Basic Og=="})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.usefixtures("user")
@pytest.mark.parametrize("credentials", [b":a-secret", b"Og==", b"\x00"])
async def test_basic_header_with_a_secret_and_no_id_stays_invalid_client(client: httpx.AsyncClient, credentials: bytes) -> None:
    header = "Basic " + base64.b64encode(credentials).decode()
    r = await client.post("/user/oauth/token", data=LOGIN, headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_local_assets_and_serve_them(client: httpx.AsyncClient, page: str) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", r.text, re.IGNORECASE), r.text  # no CDN, no fonts
    urls = _asset_urls(r.text)
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts
    if page == "/docs":
        assert any(u.endswith(".css") for u in urls)
    for url in urls:
        asset = await client.get(urljoin(f"http://testserver{page}", url))
        assert asset.status_code == 200, url
    bundle = await client.get(urljoin(f"http://testserver{page}", scripts[0]))
    assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 100_000


async def test_swagger_ui_is_version_5(client: httpx.AsyncClient) -> None:
    """Swagger UI 4 shows "Unable to render this definition" for FastAPI's OpenAPI 3.1."""
    html = (await client.get("/docs")).text
    bundle = (await client.get(next(u for u in _asset_urls(html) if u.endswith("swagger-ui-bundle.js")))).text
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.', bundle)
    assert version is not None and int(version.group(1)) >= 5
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")


async def test_oauth2_redirect_page_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs/oauth2-redirect")
    assert r.status_code == 200 and "oauth2" in r.text.lower()
    assert "/docs/oauth2-redirect" in (await client.get("/docs")).text


async def test_docs_pages_honour_the_root_path(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        transport = httpx.ASGITransport(app=client.app, root_path="/auth")  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxied:
            html = (await proxied.get("/docs")).text
    assert all(u.startswith("/auth/") for u in _asset_urls(html) if u.startswith("/")), html
    assert "/auth/openapi.json" in html


async def test_logout_operation_declares_bearer_security(client: httpx.AsyncClient) -> None:
    """So the docs send the token Authorize obtained (or a refresh token given as bearer)."""
    doc = (await client.get("/openapi.json")).json()
    security = doc["paths"]["/user/_logout"]["post"]["security"]
    assert {"OAuth2PasswordBearer": []} in security and {"RefreshToken": []} in security
    assert {k for requirement in security for k in requirement} <= doc["components"]["securitySchemes"].keys()


@pytest.mark.usefixtures("user")
async def test_logout_with_the_docs_bearer_token_ends_the_session(client: httpx.AsyncClient) -> None:
    token = (await password_grant(client, scope="profile")).json()["access_token"]
    assert (await client.post("/user/_logout", headers=bearer(token))).status_code in (200, 204)
    assert (await client.get("/user/me", headers=bearer(token))).status_code == 401


async def test_select_all_scopes_grants_those_the_user_has(settings: Settings, client: httpx.AsyncClient) -> None:
    """The Authorize dialog's "select all" asks for every advertised scope; a user without
    some of them gets the rest, and the response names the scope issued (RFC 6749 §3.3)."""
    await create_user(settings, "reader", scope="read")
    everything = " ".join(settings.scopes)
    assert everything != "read"
    r = await password_grant(client, username="reader", scope=everything)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read"
    me = await client.get("/user/me", headers=bearer(r.json()["access_token"]))
    assert me.json()["scopes"] == ["read"]
    # the scopes it grants keep the request's order; nothing the user lacks is granted
    r = await password_grant(client, username="reader", scope="admin read")
    assert r.status_code == 200 and r.json()["scope"] == "read"


async def test_a_request_for_none_of_the_users_scopes_is_invalid_scope(settings: Settings, client: httpx.AsyncClient) -> None:
    await create_user(settings, "reader", scope="read")
    r = await password_grant(client, username="reader", scope="write admin")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


async def test_a_registered_client_still_gets_exactly_its_scope_or_invalid_scope(
    settings: Settings, client: httpx.AsyncClient, user: UserRecord
) -> None:
    record, _ = await register_client(settings, "spa", confidential=False)
    r = await password_grant(client, client_id=record.client_id, scope="read admin")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
