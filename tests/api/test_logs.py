"""Logs carry what operators need (a JSON line per request, audit events) and never a
token, a password or a secret, whatever the request looked like."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from datetime import datetime
from typing import Any

import httpx
import pytest

from app.api.observability import RequestLog
from app.logs import JsonFormatter
from tests.support import PASSWORD, TEST_SECRET, bearer, login_pair, metric_value, password_grant, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def reported() -> None:
    """Requests are counted and logged once the loop iteration that finished them is
    done (app.api.observability): a test driving the app in its own task yields once."""
    await asyncio.sleep(0)


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
    await reported()
    # everything the server side logged, as written (the test's own HTTP client logs its URLs: not ours)
    text = "\n".join(JSON.format(r) for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
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
    # a query string is never logged (a token there is refused on this route, RFC 6750 §2)
    await client.get("/user/me?state=in-the-query", headers={**bearer(pair["access_token"]), "X-Request-ID": "req-42"})
    await reported()
    lines = [json.loads(JSON.format(r)) for r in caplog.records if r.name == "app.access"]
    me = next(line for line in lines if line["route"] == "/user/me")
    assert me.keys() == {"timestamp", "level", "logger", "message", "request_id", "method", "route", "status",
                         "duration_ms", "user_id", "session_id"}
    assert me["request_id"] == "req-42" and me["status"] == 200 and me["user_id"] == 1 and len(me["session_id"]) == 32
    assert me["level"] == "INFO" and me["logger"] == "app.access" and me["method"] == "GET"
    assert datetime.fromisoformat(me["timestamp"]).utcoffset() is not None and me["duration_ms"] >= 0
    token = lines[0]
    assert token["route"] == "/user/oauth/token" and "user_id" not in token and "session_id" not in token
    assert all("?" not in line["route"] and "in-the-query" not in json.dumps(line) for line in lines)


JSON = JsonFormatter()


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def echoed_id(headers: list[tuple[bytes, bytes]], caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    """The X-Request-ID the middleware answers with, and the one the request's log line
    carries, for a request with these headers (servers refuse most bad values before
    the app sees them; an ASGI call can still send them)."""
    caplog.clear()
    caplog.set_level(logging.INFO, logger="app.access")
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    await RequestLog(_answer)(scope, None, send)  # type: ignore[arg-type]
    await reported()
    answered = dict(sent[0]["headers"])[b"x-request-id"].decode()
    [record] = [r for r in caplog.records if r.name == "app.access"]
    return answered, json.loads(JSON.format(record))["request_id"]


@pytest.mark.parametrize("given", [b"abc\n", b"abc\r\n", b"", b"a b", b"x" * 129, b'a"b'])
async def test_a_request_id_outside_its_alphabet_is_replaced(given: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """Echoed in a response header, so it must match the whole alphabet."""
    answered, logged = await echoed_id([(b"x-request-id", given)], caplog)
    assert answered == logged and answered != given.decode("latin-1")
    assert len(answered) == 32 and int(answered, 16) >= 0


async def test_a_request_id_in_its_alphabet_is_kept_and_the_first_one_wins(caplog: pytest.LogCaptureFixture) -> None:
    kept = await echoed_id([(b"x-request-id", b"trace-42.a:b_c")], caplog)
    assert kept == ("trace-42.a:b_c", "trace-42.a:b_c")
    first = await echoed_id([(b"x-request-id", b"first"), (b"x-request-id", b"second")], caplog)
    assert first == ("first", "first")
    made = {(await echoed_id([], caplog))[0] for _ in range(3)}
    assert len(made) == 3 and all(len(m) == 32 for m in made)


async def test_each_request_is_logged_once_in_its_own_context() -> None:
    """One record per request, handed to logging once the loop iteration that finished
    it is done, in the request's own context: a filter or handler of the user's can read
    its context variables (a correlation id, a trace id)."""
    tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="none")
    seen: list[tuple[str, str]] = []

    def stamp(record: logging.LogRecord) -> bool:
        seen.append((json.loads(JSON.format(record))["request_id"], tag.get()))
        return True

    access = logging.getLogger("app.access")
    level = access.level
    access.setLevel(logging.INFO)
    access.addFilter(stamp)
    try:
        async def one(request_id: str) -> None:
            tag.set(f"tag-{request_id}")  # as an outer middleware would, per request
            scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-request-id", request_id.encode())]}

            async def send(message: Any) -> None:
                pass

            await RequestLog(_answer)(scope, None, send)  # type: ignore[arg-type]
            tag.set("changed after the request")  # the record keeps the request's context
            await reported()
            assert (request_id, f"tag-{request_id}") in seen

        await asyncio.gather(*(one(f"r{i}") for i in range(5)))
    finally:
        access.removeFilter(stamp)
        access.setLevel(level)
    assert sorted(seen) == [(f"r{i}", f"tag-r{i}") for i in range(5)]


async def test_a_scrape_counts_the_request_finished_just_before_it(client: httpx.AsyncClient) -> None:
    def healthz(text: str) -> float:
        return metric_value(text, "authserver_http_requests_total", route="/healthz")

    before = healthz((await client.get("/metrics")).text)
    assert (await client.get("/healthz")).status_code == 200
    await reported()  # a scrape over HTTP arrives in a later loop iteration
    assert healthz((await client.get("/metrics")).text) == before + 1


async def test_terminal_escapes_and_nul_in_a_path_never_reach_a_log_line_raw(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A percent-decoded path can carry ESC (terminal control) and NUL: a line shown in a
    terminal or cut at the NUL by a C log shipper must not carry them raw."""
    caplog.set_level(logging.DEBUG)
    r = await client.get("/%1b%5b31mX%00")
    assert r.status_code == 404
    r = await client.delete("/user/sessions/%1b%5b31mX%00", headers=bearer("x"))
    assert r.status_code == 401
    await reported()
    logging.getLogger("app.test").warning("path %s", "/\x1b[31mX\x00")  # as any line naming a raw path would
    lines = [JSON.format(rec) for rec in caplog.records if not rec.name.startswith(("httpx", "httpcore"))]
    assert any('"status": 404' in line for line in lines)
    assert all("\x1b" not in line and "\x00" not in line for line in lines)
    assert all(json.loads(line) for line in lines)  # each a whole JSON object
    assert any(json.loads(line)["message"] == "path /\x1b[31mX\x00" for line in lines)  # escaped, not dropped
