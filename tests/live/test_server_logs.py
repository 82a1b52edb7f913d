"""What a real `serve` process writes: one JSON line per request on its own output, with
the caller's X-Request-ID (or a generated one, returned in the response), the route
template, status, duration, user and session ids — and never a token or a password,
even for a logout whose token came in the query string."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support import PASSWORD, bearer, live_server

pytestmark = pytest.mark.usefixtures("user")


def test_one_json_line_per_request_and_no_secrets(database_url: str, tmp_path: Path) -> None:
    output = tmp_path / "server.log"
    secrets: list[str] = [PASSWORD]
    sent: list[tuple[str, int, str]] = []  # route, status, request id as the response gave it
    with live_server(database_url, output=output, RATE_LIMIT_ENABLED="false") as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            def remember(route: str, r: httpx.Response) -> httpx.Response:
                sent.append((route, r.status_code, r.headers["x-request-id"]))
                return r

            form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
            pair = remember("/user/oauth/token", http.post("/user/oauth/token", data=form)).json()
            secrets += [pair["access_token"], pair["refresh_token"]]
            r = remember("/protected", http.get("/protected", headers={**bearer(pair["access_token"]), "X-Request-ID": "trace-42"}))
            assert r.headers["x-request-id"] == "trace-42"
            new = remember("/refresh", http.post("/refresh", headers=bearer(pair["refresh_token"]))).json()
            secrets += [new["access_token"], new["refresh_token"]]
            remember("/refresh", http.post("/refresh", headers=bearer(pair["refresh_token"])))  # reuse: 401
            wrong = {**form, "password": "not-the-password-xyz"}
            secrets.append(wrong["password"])
            remember("/user/oauth/token", http.post("/user/oauth/token", data=wrong))
            other = http.post("/user/oauth/token", data=form).json()
            sent.append(("/user/oauth/token", 200, ""))
            secrets += [other["access_token"], other["refresh_token"]]
            remember("/user/_logout", http.post("/user/_logout", params={"access_token": other["refresh_token"]}))
    text = output.read_text()
    for secret in secrets:
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"route"' in line]
    requests = [line for line in lines if line["route"] != "/healthz"]
    assert [(line["route"], line["status"]) for line in requests] == [(route, status) for route, status, _ in sent]
    for line, (_, _, request_id) in zip(requests, sent):
        if request_id:
            assert line["request_id"] == request_id
        assert line["duration_ms"] >= 0
    protected = requests[1]
    assert protected["request_id"] == "trace-42" and protected["user_id"] == 1 and len(protected["session_id"]) == 32
    audit = [json.loads(line)["audit"] for line in text.splitlines() if line.startswith('{"audit"')]
    assert audit == ["login_succeeded", "refreshed", "reuse_detected", "login_failed", "login_succeeded", "logout"]
