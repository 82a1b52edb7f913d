"""The admin API for users and clients: every operation, its auth failures (401 without a
token, 403 without the admin scope), its audit events (actor: the admin's sub), and the
sessions a change ends, at once."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Settings
from app.store.users import UserRecord
from tests.support import PASSWORD, bearer, create_user, login_pair, password_grant, refresh_grant
from tests.trust_support import basic

pytestmark = pytest.mark.usefixtures("user")
NEW_PASSWORD = "a brand new password"


@pytest.fixture
async def root(settings: Settings) -> UserRecord:
    return await create_user(settings, username="root", scope="profile admin")


@pytest.fixture
async def admin(client: httpx.AsyncClient, root: UserRecord) -> dict[str, str]:
    pair = await login_pair(client, username="root")
    return bearer(pair["access_token"])


async def _events(client: httpx.AsyncClient, admin: dict[str, str], event: str) -> list[dict[str, object]]:
    r = await client.get("/admin/audit", params={"event": event}, headers=admin)
    assert r.status_code == 200
    events: list[dict[str, object]] = r.json()
    return events


async def _refused(client: httpx.AsyncClient, pair: dict[str, object]) -> bool:
    """Both tokens of the session are dead: the access token on a protected route, the
    refresh token on both refresh paths."""
    access = await client.get("/user/me", headers=bearer(pair["access_token"]))
    refresh = await refresh_grant(client, pair["refresh_token"])
    first_party = await client.post("/refresh", headers=bearer(pair["refresh_token"]))
    return access.status_code == 401 and refresh.status_code == 400 and first_party.status_code == 401


OPERATIONS = [
    ("GET", "/admin/users"), ("POST", "/admin/users"), ("GET", "/admin/users/alice"),
    ("POST", "/admin/users/alice/enable"), ("POST", "/admin/users/alice/disable"),
    ("PUT", "/admin/users/alice/scope"), ("PUT", "/admin/users/alice/password"), ("DELETE", "/admin/users/alice"),
    ("DELETE", "/admin/users/alice/sessions"), ("GET", "/admin/clients"), ("POST", "/admin/clients"),
    ("GET", "/admin/clients/c_x"), ("POST", "/admin/clients/c_x/disable"), ("POST", "/admin/clients/c_x/enable"),
    ("DELETE", "/admin/clients/c_x"), ("POST", "/admin/clients/c_x/secret"),
]


async def test_every_operation_needs_a_token_with_the_admin_scope(client: httpx.AsyncClient, settings: Settings) -> None:
    mortal = bearer((await login_pair(client))["access_token"])
    for method, path in OPERATIONS:
        anonymous = await client.request(method, path, json={})
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer"), path
        refused = await client.request(method, path, headers=mortal, json={})
        assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope", path
        assert 'scope="admin"' in refused.headers["www-authenticate"]
    assert (await client.get("/admin/users/alice", headers=mortal)).status_code == 403
    assert (await client.get("/user/me", headers=mortal)).json()["username"] == "alice"  # nothing changed


async def test_create_list_and_get_users(client: httpx.AsyncClient, admin: dict[str, str], root: UserRecord) -> None:
    r = await client.post("/admin/users", headers=admin,
                          json={"username": "Zoe\u0308", "password": "long enough", "scope": "profile read"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["username"], created["scope"], created["is_active"]) == ("Zo\u00eb", "profile read", True)
    assert "password" not in r.text and "long enough" not in r.text
    assert (await password_grant(client, username="Zo\u00eb", password="long enough")).status_code == 200
    duplicate = await client.post("/admin/users", headers=admin, json={"username": "Zo\u00eb", "password": "long enough"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "conflict"

    got = await client.get("/admin/users/Zo%C3%AB", headers=admin)
    assert got.status_code == 200 and got.json() == created
    assert (await client.get("/admin/users/nobody", headers=admin)).status_code == 404

    names, cursor = [], None
    while True:
        page = (await client.get("/admin/users", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                 headers=admin)).json()
        assert len(page["users"]) <= 2
        names += [u["username"] for u in page["users"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert names == ["alice", "root", "Zo\u00eb"]
    assert (await client.get("/admin/users", params={"cursor": "x"}, headers=admin)).status_code == 400

    events = await _events(client, admin, "user_created")
    assert [(e["username"], e["actor"], e["user_id"]) for e in events] == [("Zo\u00eb", str(root.id), created["id"])]


@pytest.mark.parametrize("body, says", [
    ({"username": "p\u0430ypal", "password": "long enough"}, "scripts"),
    ({"username": " bob", "password": "long enough"}, "whitespace"),
    ({"username": "bo\u200bb", "password": "long enough"}, "invisible"),
    ({"username": "x" * 151, "password": "long enough"}, "150"),
    ({"username": "", "password": "long enough"}, "empty"),
    ({"username": "bob", "password": "short"}, "8 to 1024"),
    ({"username": "bob", "password": "x" * 2000}, "8 to 1024"),
    ({"username": "bob", "password": "long enough", "scope": "profile superuser"}, "Unknown scope: superuser"),
    ({"username": "bob", "password": "long enough", "scope": "profile  read"}, "3.3"),
    ({"username": "bob", "password": 12345678}, "must be a string"),
    ({"username": "bob"}, "password is required"),
    ({"username": "bob", "password": "long enough", "scopes": "read"}, "only these fields"),
])
async def test_invalid_users_are_refused_clearly_and_not_stored(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, object], says: str,
) -> None:
    r = await client.post("/admin/users", headers=admin, json=body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert says in r.json()["error_description"]
    listed = (await client.get("/admin/users", headers=admin)).json()["users"]
    assert [u["username"] for u in listed] == ["alice", "root"]
    assert await _events(client, admin, "user_created") == []


async def test_a_repeated_json_key_is_refused(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = b'{"username": "bob", "password": "long enough", "password": "other long one"}'
    r = await client.post("/admin/users", headers={**admin, "content-type": "application/json"}, content=body)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_disable_ends_sessions_at_once_and_enable_lets_the_user_log_in_again(
    client: httpx.AsyncClient, admin: dict[str, str], root: UserRecord,
) -> None:
    pair = await login_pair(client)
    r = await client.post("/admin/users/alice/disable", headers=admin)
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1
    assert await _refused(client, pair)
    assert (await password_grant(client)).status_code == 400
    r = await client.post("/admin/users/alice/enable", headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert (await password_grant(client)).status_code == 200
    assert (await refresh_grant(client, pair["refresh_token"])).status_code == 400  # ended sessions stay ended
    assert (await client.post("/admin/users/nobody/enable", headers=admin)).status_code == 404
    events = await _events(client, admin, "user_enabled")
    assert [(e["username"], e["actor"]) for e in events] == [("alice", str(root.id))]


async def test_set_password_ends_every_session_and_is_audited(
    client: httpx.AsyncClient, admin: dict[str, str], root: UserRecord,
) -> None:
    first, second = await login_pair(client), await login_pair(client)
    too_long = await client.put("/admin/users/alice/password", headers=admin, json={"password": "x" * 2000})
    assert too_long.status_code == 400 and "1024" in too_long.json()["error_description"]
    assert (await password_grant(client)).status_code == 200  # the refused one changed nothing
    r = await client.put("/admin/users/alice/password", headers=admin, json={"password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 3
    assert await _refused(client, first) and await _refused(client, second)
    assert (await password_grant(client)).status_code == 400
    assert (await password_grant(client, password=NEW_PASSWORD)).status_code == 200
    assert (await client.put("/admin/users/nobody/password", headers=admin, json={"password": NEW_PASSWORD})).status_code == 404
    events = await _events(client, admin, "password_set")
    assert [(e["username"], e["actor"], e["detail"]) for e in events] == [("alice", str(root.id), "ended 3 sessions")]
    assert all(NEW_PASSWORD not in str(e) for e in (await client.get("/admin/audit", headers=admin)).json())


async def test_taking_a_scope_away_ends_sessions(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    pair = await login_pair(client)
    r = await client.put("/admin/users/alice/scope", headers=admin, json={"scope": "profile read write admin"})
    assert r.status_code == 200 and r.json()["sessions_ended"] == 0  # adding one ends nothing
    assert (await client.get("/user/me", headers=bearer(pair["access_token"]))).status_code == 200
    r = await client.put("/admin/users/alice/scope", headers=admin, json={"scope": "read"})
    assert r.status_code == 200 and r.json() == {**r.json(), "sessions_ended": 1}
    assert r.json()["user"]["scope"] == "read"
    assert await _refused(client, pair)
    assert (await login_pair(client))["scope"] == "read"
    for bad in ("root", "re\u00e4d", " read"):
        refused = await client.put("/admin/users/alice/scope", headers=admin, json={"scope": bad})
        assert refused.status_code == 400
    assert (await client.get("/admin/users/alice", headers=admin)).json()["scope"] == "read"
    assert [e["detail"] for e in await _events(client, admin, "user_scope_changed")][0].endswith("ended 1 sessions")


async def test_delete_ends_sessions_keeps_the_audit_trail_and_frees_the_name(
    client: httpx.AsyncClient, admin: dict[str, str], user: UserRecord,
) -> None:
    pair = await login_pair(client)
    r = await client.delete("/admin/users/alice", headers=admin)
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1
    assert await _refused(client, pair)
    assert (await password_grant(client)).status_code == 400
    assert (await client.get("/admin/users/alice", headers=admin)).status_code == 404
    assert (await client.delete("/admin/users/alice", headers=admin)).status_code == 404
    assert "alice" not in str((await client.get("/admin/users", headers=admin)).json())

    trail = (await client.get("/admin/audit", headers=admin)).json()
    assert {(e["event"], e["user_id"]) for e in trail} >= {("login_succeeded", user.id), ("user_deleted", user.id)}
    again = await client.post("/admin/users", headers=admin, json={"username": "alice", "password": NEW_PASSWORD})
    assert again.status_code == 201 and again.json()["id"] != user.id  # never the old id: the trail stays true
    assert (await password_grant(client, password=NEW_PASSWORD)).status_code == 200


async def test_end_every_session_of_a_user(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    pairs = [await login_pair(client), await login_pair(client)]
    r = await client.delete("/admin/users/alice/sessions", headers=admin)
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2
    assert all([await _refused(client, p) for p in pairs])
    assert (await client.delete("/admin/users/nobody/sessions", headers=admin)).status_code == 404


async def test_clients_create_list_reset_secret_and_delete(
    client: httpx.AsyncClient, admin: dict[str, str], root: UserRecord,
) -> None:
    r = await client.post("/admin/clients", headers=admin,
                          json={"client_name": "orders", "confidential": True, "scope": "profile read"})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    created = r.json()
    client_id, secret = created["client_id"], created["client_secret"]
    assert created["token_endpoint_auth_method"] == "client_secret_basic" and created["disabled"] is False
    login = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    assert (await client.post("/user/oauth/token", data=login, headers=basic(client_id, secret))).status_code == 200

    listed = (await client.get("/admin/clients", headers=admin)).json()
    assert [c["client_id"] for c in listed] == [client_id] and "client_secret" not in listed[0] and secret not in str(listed)
    assert (await client.get(f"/admin/clients/{client_id}", headers=admin)).json()["client_name"] == "orders"

    reset = await client.post(f"/admin/clients/{client_id}/secret", headers=admin)
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    fresh = reset.json()["client_secret"]
    assert (await client.post("/user/oauth/token", data=login, headers=basic(client_id, secret))).status_code == 401
    assert (await client.post("/user/oauth/token", data=login, headers=basic(client_id, fresh))).status_code == 200

    public = (await client.post("/admin/clients", headers=admin, json={"client_name": "web"})).json()
    assert public["client_secret"] is None and public["token_endpoint_auth_method"] == "none"
    assert (await client.post(f"/admin/clients/{public['client_id']}/secret", headers=admin)).status_code == 409

    r = await client.delete(f"/admin/clients/{client_id}", headers=admin)
    assert r.status_code == 200 and r.json() == {"client_id": client_id, "sessions_ended": 2}
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/secret"), ("POST", "/disable"), ("POST", "/enable")):
        assert (await client.request(method, f"/admin/clients/{client_id}{path}", headers=admin)).status_code == 404

    kinds = [(e["event"], e["client_id"], e["actor"]) for e in (await client.get("/admin/audit", headers=admin)).json()
             if str(e["event"]).startswith("client_")]
    assert kinds == [
        ("client_deleted", client_id, str(root.id)), ("client_created", public["client_id"], str(root.id)),
        ("client_secret_reset", client_id, str(root.id)), ("client_created", client_id, str(root.id)),
    ]
    assert secret not in str(kinds) and fresh not in str(kinds)


@pytest.mark.parametrize("body, says", [
    ({"client_name": "svc", "scope": "root"}, "Unknown scope"),
    ({"client_name": "svc", "grant_types": ["client_credentials"]}, "grant types"),
    ({"client_name": "svc", "grant_types": "password"}, "list of strings"),
    ({"client_name": "svc", "confidential": "yes"}, "true or false"),
    ({"client_name": ""}, "client name"),
    ({}, "client_name is required"),
])
async def test_invalid_clients_are_refused_clearly(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, object], says: str,
) -> None:
    r = await client.post("/admin/clients", headers=admin, json=body)
    assert r.status_code == 400 and says in r.json()["error_description"]
    assert (await client.get("/admin/clients", headers=admin)).json() == []


async def test_a_disabled_client_refreshes_no_more(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = (await client.post("/admin/clients", headers=admin, json={"client_name": "mobile", "scope": "profile"})).json()
    client_id = created["client_id"]
    mine = await login_pair(client, client_id=client_id)
    other = await login_pair(client)
    r = await client.post(f"/admin/clients/{client_id}/disable", headers=admin)
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1
    assert (await client.get(f"/admin/clients/{client_id}", headers=admin)).json()["disabled"] is True
    # its refresh token rotates for nobody: not for it, not for anyone claiming its id, not without one
    assert (await refresh_grant(client, mine["refresh_token"], client_id=client_id)).status_code == 401
    assert (await refresh_grant(client, mine["refresh_token"])).status_code == 400
    assert await _refused(client, mine)
    assert (await password_grant(client, client_id=client_id)).json()["error"] == "invalid_client"
    assert (await refresh_grant(client, other["refresh_token"])).status_code == 200  # other sessions untouched

    enabled = await client.post(f"/admin/clients/{client_id}/enable", headers=admin)
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert (await password_grant(client, client_id=client_id)).status_code == 200
    assert (await refresh_grant(client, mine["refresh_token"], client_id=client_id)).status_code == 400
    events = await _events(client, admin, "client_disabled")
    assert [(e["client_id"], e["detail"]) for e in events] == [(client_id, "ended 1 sessions")]


async def test_the_openapi_document_declares_the_admin_api(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    for method, path in OPERATIONS:
        template = path.replace("/alice", "/{username}").replace("/c_x", "/{client_id}")
        operation = doc["paths"][template][method.lower()]
        assert operation["security"] == [{"OAuth2PasswordBearer": ["admin"]}], template
        assert {"401", "403"} <= set(operation["responses"]), template
    create = doc["paths"]["/admin/users"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"username", "password", "scope"} and schema["required"] == ["username", "password"]
    assert {"201", "409"} <= set(create["responses"])
    assert "$ref" in str(doc["paths"]["/admin/users"]["get"]["responses"]["200"])
    assert "ClientCreated" in doc["components"]["schemas"]
