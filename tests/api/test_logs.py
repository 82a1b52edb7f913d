"""Logs carry what operators need (a JSON line per request, audit events) and never a
token, a password or a secret, whatever the request looked like."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

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
    await asyncio.sleep(0)  # the last requests' lines reach logging at the end of the loop iteration
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
    await asyncio.sleep(0)  # access lines reach logging at the end of the loop iteration
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]
    me = next(line for line in lines if line["route"] == "/user/me")
    assert me["request_id"] == "req-42" and me["status"] == 200 and me["user_id"] == 1 and me["session_id"]
    assert all("?" not in line["route"] for line in lines)


async def echoed_id(headers: list[tuple[bytes, bytes]], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The X-Request-ID the middleware answers with, and the one the request's log line
    would carry, for a request with these headers (servers refuse most bad values before
    the app sees them; an ASGI call can still send them)."""
    from app.api import observability

    monkeypatch.setattr(observability, "observe_request", lambda *args: None)
    logged: list[str] = []
    monkeypatch.setattr(observability, "write_lines", lambda logger, lines, contexts=None: logged.extend(lines))
    sent: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    await observability.RequestLog(app)(scope, None, send)
    observability.drain_finished()  # as the loop iteration's end would
    answered = dict(sent[0]["headers"])[b"x-request-id"].decode()
    return answered, json.loads(logged[0])["request_id"]


@pytest.mark.parametrize("given", [b"abc\n", b"abc\r\n", b"", b"a b", b"x" * 129, b'a"b'])
async def test_a_request_id_outside_its_alphabet_is_replaced(given: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Echoed in a header and written into the JSON line unescaped, so it must match the
    whole alphabet."""
    answered, logged = await echoed_id([(b"x-request-id", given)], monkeypatch)
    assert answered == logged and answered != given.decode("latin-1")
    assert len(answered) == 32 and int(answered, 16) >= 0


async def test_a_request_id_in_its_alphabet_is_kept_and_the_first_one_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = await echoed_id([(b"x-request-id", b"trace-42.a:b_c")], monkeypatch)
    assert kept == ("trace-42.a:b_c", "trace-42.a:b_c")
    first = await echoed_id([(b"x-request-id", b"first"), (b"x-request-id", b"second")], monkeypatch)
    assert first == ("first", "first")
    made = {(await echoed_id([], monkeypatch))[0] for _ in range(3)}
    assert len(made) == 3 and all(len(m) == 32 for m in made)


def test_the_line_formats_ids_once_per_session_and_keeps_that_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.api import observability

    monkeypatch.setattr(observability, "_IDS", {})
    monkeypatch.setattr(observability, "_IDS_MAX", 3)
    formatted: list[tuple[object, object]] = []
    real_ids = observability._ids
    monkeypatch.setattr(observability, "_ids", lambda u, s: formatted.append((u, s)) or real_ids(u, s))
    series = ("GET", "/protected", 200)
    for n in range(3):
        for _ in range(2):  # the second request of a session: from the cache
            line = json.loads(observability._line(series, {"user_id": n, "session_id": f"s{n}"}, "rid", 0.0012345))
            assert line == {"request_id": "rid", "method": "GET", "route": "/protected", "status": 200,
                            "duration_ms": 1.23, "user_id": n, "session_id": f"s{n}"}
    assert formatted == [(0, "s0"), (1, "s1"), (2, "s2")]
    assert observability._IDS.keys() == {(0, "s0"), (1, "s1"), (2, "s2")}
    observability._line(series, {"user_id": 3, "session_id": "s3"}, "rid", 0.001)  # full: starts again
    assert observability._IDS.keys() == {(3, "s3")}
    # ids of other types (a route of the user's writing them) are formatted each time, not cached
    line = json.loads(observability._line(series, {"user_id": "7", "session_id": 'a"b'}, "rid", 0.001))
    assert line["user_id"] == 7 and line["session_id"] == 'a"b' and ("7", 'a"b') not in observability._IDS
    assert json.loads(observability._line(series, {}, "rid", 0.001)).keys() == {
        "request_id", "method", "route", "status", "duration_ms"}
