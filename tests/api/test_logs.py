"""Logs carry what operators need (a JSON line per request, audit events) and never a
token, a password or a secret, whatever the request looked like."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.support import PASSWORD, TEST_SECRET, bearer, login_pair, password_grant, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_no_token_password_or_secret_in_any_log_line(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pair = await login_pair(client)
    new = (await refresh_grant(client, pair["refresh_token"])).json()
    await refresh_grant(client, pair["refresh_token"])  # reuse: revokes
    again = await login_pair(client)
    await client.get("/protected", headers=bearer(again["access_token"]))
    await client.post("/user/_logout", params={"access_token": again["access_token"]})
    await password_grant(client, password="wrong-" + PASSWORD)
    await client.post("/login", json={"username": "alice", "password": PASSWORD + "!"})
    await client.get("/protected", headers=bearer("garbage." + str(new["access_token"])))
    # everything the server side logged (the test's own HTTP client logs its URLs: not ours)
    text = "\n".join(
        r.getMessage() + (r.exc_text or "") for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert '"route": "/user/oauth/token"' in text and '"audit": "reuse_detected"' in text  # the lines exist
    secrets = [PASSWORD, TEST_SECRET]
    for tokens in (pair, new, again):
        secrets += [str(tokens["access_token"]), str(tokens["refresh_token"]), str(tokens["refresh_token"])[3:]]
        secrets.append(str(tokens["access_token"]).split(".")[2])
    for secret in secrets:
        assert secret not in text


async def test_access_lines_are_json_with_request_ids(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    pair = await login_pair(client)
    await client.get("/user/me", headers={**bearer(pair["access_token"]), "X-Request-ID": "req-42"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]
    me = next(line for line in lines if line["route"] == "/user/me")
    assert me["request_id"] == "req-42" and me["status"] == 200 and me["user_id"] == 1 and me["session_id"]
    assert all("?" not in line["route"] for line in lines)


@pytest.mark.parametrize("given", [b"abc\n", b"abc\r\n", b"", b"a b", b"x" * 129, b'a"b'])
def test_a_request_id_outside_its_alphabet_is_replaced(given: bytes) -> None:
    """Echoed in a header and written into the JSON line unescaped, so it must match the
    whole alphabet (HTTP servers refuse most of these before the app sees them)."""
    from app.api.observability import _request_id

    made = _request_id({"headers": [(b"x-request-id", given)]})
    assert made != given.decode("latin-1") and len(made) == 32 and int(made, 16) >= 0
    assert _request_id({"headers": [(b"x-request-id", b"trace-42.a:b_c")]}) == "trace-42.a:b_c"


def test_the_line_formats_ids_once_per_session_and_keeps_that_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.api import observability

    monkeypatch.setattr(observability, "_IDS", {})
    monkeypatch.setattr(observability, "_IDS_MAX", 3)
    series = ("GET", "/protected", 200)
    for n in range(5):
        line = json.loads(observability._line(series, {"user_id": n, "session_id": f"s{n}"}, "rid", 0.0012345))
        assert line == {"request_id": "rid", "method": "GET", "route": "/protected", "status": 200,
                        "duration_ms": 1.23, "user_id": n, "session_id": f"s{n}"}
        assert len(observability._IDS) <= 3
    # ids of other types (a route of the user's writing them) are formatted, not cached
    line = json.loads(observability._line(series, {"user_id": "7", "session_id": 'a"b'}, "rid", 0.001))
    assert line["user_id"] == 7 and line["session_id"] == 'a"b'
    assert json.loads(observability._line(series, {}, "rid", 0.001)).keys() == {
        "request_id", "method", "route", "status", "duration_ms"}
