"""Sessions users can see and end; password change; admin actions; audit; metrics."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.clock import FrozenClock
from app.settings import Settings
from app.store.users import UserRecord
from tests.support import PASSWORD, bearer, create_user, login_pair, password_grant, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_session_list_marks_the_current_one_with_metadata(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    first = await login_pair(client)
    clock.advance(minutes=1)
    second = (await client.post(
        "/user/oauth/token", headers={"User-Agent": "pytest-agent/1"},
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )).json()
    await refresh_grant(client, first["refresh_token"])
    r = await client.get("/user/sessions", headers=bearer(second["access_token"]))
    assert r.status_code == 200
    sessions = r.json()["sessions"]
    assert len(sessions) == 2
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1 and current[0]["user_agent"] == "pytest-agent/1"
    assert current[0]["ip"] == "203.0.113.7"
    other = next(s for s in sessions if not s["current"])
    assert other["last_refreshed_at"] is not None


async def test_delete_one_of_my_sessions_and_not_anothers(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_user(settings, username="bob")
    mine = await login_pair(client)
    spare = await login_pair(client)
    bobs = await login_pair(client, username="bob")
    bob_sid = (await client.get("/user/me", headers=bearer(bobs["access_token"]))).json()["session_id"]
    spare_sid = (await client.get("/user/me", headers=bearer(spare["access_token"]))).json()["session_id"]
    assert (await client.delete(f"/user/sessions/{bob_sid}", headers=bearer(mine["access_token"]))).status_code == 404
    assert (await client.get("/protected", headers=bearer(bobs["access_token"]))).status_code == 200
    assert (await client.delete(f"/user/sessions/{spare_sid}", headers=bearer(mine["access_token"]))).status_code == 204
    assert (await client.get("/protected", headers=bearer(spare["access_token"]))).status_code == 401
    assert (await refresh_grant(client, spare["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await client.get("/protected", headers=bearer(mine["access_token"]))).status_code == 200


async def test_logout_everywhere(client: httpx.AsyncClient) -> None:
    pairs = [await login_pair(client) for _ in range(3)]
    r = await client.post("/user/_logout", params={"all": "true"}, headers=bearer(pairs[0]["access_token"]))
    assert r.status_code == 200 and r.json()["sessions_ended"] == 3
    for pair in pairs:
        assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401


async def test_password_change_ends_every_other_session(client: httpx.AsyncClient) -> None:
    keep, other = await login_pair(client), await login_pair(client)
    wrong = await client.post("/user/password", headers=bearer(keep["access_token"]),
                              json={"current_password": "nope", "new_password": "a new long password"})
    assert wrong.status_code == 400
    r = await client.post("/user/password", headers=bearer(keep["access_token"]),
                          json={"current_password": PASSWORD, "new_password": "a new long password"})
    assert r.status_code == 200 and r.json()["other_sessions_ended"] == 1
    assert (await client.get("/protected", headers=bearer(keep["access_token"]))).status_code == 200
    assert (await client.get("/protected", headers=bearer(other["access_token"]))).status_code == 401
    assert (await password_grant(client)).status_code == 400
    assert (await password_grant(client, password="a new long password")).status_code == 200


async def test_admin_disables_a_user_and_reads_the_audit(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_user(settings, username="root", scope="profile admin")
    victim = await login_pair(client)
    admin = await login_pair(client, username="root")
    assert (await client.post("/admin/users/alice/disable", headers=bearer(victim["access_token"]))).status_code == 403
    r = await client.get("/admin/users/alice/sessions", headers=bearer(admin["access_token"]))
    assert r.status_code == 200 and len(r.json()["sessions"]) == 1
    r = await client.post("/admin/users/alice/disable", headers=bearer(admin["access_token"]))
    assert r.status_code == 200 and r.json()["sessions_ended"] == 1
    assert (await client.get("/protected", headers=bearer(victim["access_token"]))).status_code == 401
    assert (await password_grant(client)).json()["error"] == "invalid_grant"
    assert (await client.post("/admin/users/nobody/disable", headers=bearer(admin["access_token"]))).status_code == 404
    events = (await client.get("/admin/audit", headers=bearer(admin["access_token"]))).json()
    kinds = [e["event"] for e in events]
    assert {"user_disabled", "login_succeeded", "login_failed"} <= set(kinds)
    assert all(PASSWORD not in str(e) and "rt_" not in str(e) for e in events)


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_count_login_refresh_and_reuse(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    pair = await login_pair(client)
    await refresh_grant(client, pair["refresh_token"])
    await refresh_grant(client, pair["refresh_token"])  # reuse
    r = await client.get("/metrics")
    assert r.status_code == 200
    after = r.text
    for event in ("login_succeeded", "refreshed", "reuse_detected"):
        delta = _metric(after, "authserver_token_events_total", event=event) - _metric(before, "authserver_token_events_total", event=event)
        assert delta == 1, event
    assert _metric(after, "authserver_http_requests_total", route="/user/oauth/token", method="POST", status="200") >= 2
    assert "x-request-id" in r.headers


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})).headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32


async def test_last_used_is_recorded_at_most_once_a_minute(client: httpx.AsyncClient, clock: FrozenClock, user: UserRecord) -> None:
    pair = await login_pair(client)
    for _ in range(3):
        await client.get("/protected", headers=bearer(pair["access_token"]))
    app_usage = client.app.state.services.usage  # type: ignore[attr-defined]
    await app_usage.drain()
    listed = (await client.get("/user/sessions", headers=bearer(pair["access_token"]))).json()["sessions"][0]
    assert listed["last_used_at"] is not None


async def test_metrics_count_revocation_and_both_expiries(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    """The rest of the token lifecycle: an RFC 7009 revocation, a session whose refresh
    token lapsed unused (idle), and one past its maximum lifetime (absolute) — the
    expiries counted when the token is presented, the only moment the server sees them."""
    def events(text: str, event: str) -> float:
        return _metric(text, "authserver_token_events_total", event=event)

    before = (await client.get("/metrics")).text
    revoked = await login_pair(client)
    assert (await client.post("/oauth/revoke", data={"token": str(revoked["refresh_token"])})).status_code == 200
    assert (await client.post("/oauth/revoke", data={"token": str(revoked["refresh_token"])})).status_code == 200  # again: no event

    idle = await login_pair(client)
    kept = await login_pair(client)
    clock.advance(minutes=50)
    kept = (await refresh_grant(client, kept["refresh_token"])).json()
    clock.advance(minutes=11)  # idle's refresh token (60 min) lapsed unused; kept's did not
    r = await refresh_grant(client, idle["refresh_token"])
    assert r.json() == {"error": "invalid_grant", "error_description": "The refresh token has expired."}
    kept = (await refresh_grant(client, kept["refresh_token"])).json()
    while True:  # keep the other session busy until its 24 h maximum passes
        clock.advance(minutes=55)
        r = await refresh_grant(client, kept["refresh_token"])
        if r.status_code != 200:
            break
        kept = r.json()
    assert r.json() == {"error": "invalid_grant", "error_description": "The session has expired."}
    after = (await client.get("/metrics")).text
    assert events(after, "revoked") - events(before, "revoked") == 1
    assert events(after, "session_expired_idle") - events(before, "session_expired_idle") == 1
    assert events(after, "session_expired_absolute") - events(before, "session_expired_absolute") == 1


@pytest.mark.parametrize("value, encoded", [("al\x00ice", "al%00ice"), ("\ud800", "%ED%A0%80")], ids=["NUL", "surrogate"])
async def test_text_no_database_can_store_is_a_clear_4xx(
    client: httpx.AsyncClient, settings: Settings, value: str, encoded: str
) -> None:
    """Either driver raises on a NUL or a lone surrogate (SQLite's when encoding, PostgreSQL's
    on the wire): each entry point refuses them before any query, never a 500, nothing
    counted or changed."""
    await create_user(settings, username="root", scope="profile admin")
    admin = await login_pair(client, username="root")
    body = '{"username": %s, "password": %s}'
    for fields in ((value, PASSWORD), ("alice", value)):
        content = body % tuple(json.dumps(f) for f in fields)
        r = await client.post("/login", content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = await client.post("/user/password", headers={**bearer(admin["access_token"]), "content-type": "application/json"},
                          content=json.dumps({"current_password": PASSWORD, "new_password": value}))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    for path in (f"/admin/users/{encoded}/disable", f"/admin/users/{encoded}/sessions"):
        method = client.post if path.endswith("disable") else client.get
        r = await method(path, headers=bearer(admin["access_token"]))
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert (await password_grant(client)).status_code == 200  # alice untouched
    assert (await password_grant(client, username="root")).status_code == 200  # root's password unchanged
