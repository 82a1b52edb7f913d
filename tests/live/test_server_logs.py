"""What a real `serve` process (and `uvicorn --factory app.main:create_app`) writes: only JSON lines, uvicorn's own included, each with
timestamp, level and logger; one per request, with the caller's X-Request-ID (or a
generated one, returned in the response), the route template, status, duration, user
and session ids — and never a token or a password, even for a logout whose token came
in the query string."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import PASSWORD, ROOT, bearer, free_port, live_server, server_env, wait_until_ok

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
    every = [json.loads(line) for line in text.splitlines() if line.strip()]  # fails on a line that is not JSON
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in every)
    assert "Application startup complete." in [line["message"] for line in every if line["logger"] == "uvicorn.error"]
    lines = [line for line in every if line["logger"] == "app.access"]
    requests = [line for line in lines if line["route"] != "/healthz"]
    assert [(line["route"], line["status"]) for line in requests] == [(route, status) for route, status, _ in sent]
    for line, (_, _, request_id) in zip(requests, sent):
        if request_id:
            assert line["request_id"] == request_id
        assert line["duration_ms"] >= 0
    protected = requests[1]
    assert protected["request_id"] == "trace-42" and protected["user_id"] == 1 and len(protected["session_id"]) == 32
    audit = [line["audit"] for line in every if line["logger"] == "app.audit"]
    assert audit == ["login_succeeded", "refreshed", "reuse_detected", "login_failed", "login_succeeded", "logout"]


QUERY_SECRETS = {name: f"S3CRET-{name}-{index}" for index, name in enumerate(
    ("token", "refresh_token", "client_secret", "password", "code")
)}


@pytest.mark.parametrize("log_level", ["info", "trace"])
def test_uvicorn_factory_writes_json_lines_without_query_values(database_url: str, tmp_path: Path, log_level: str) -> None:
    """Started by uvicorn itself, with its default logging configuration and its access
    log on (and, at trace level, every ASGI scope logged): its lines come out as JSON
    too, and a token or secret sent in a query string appears in none of them; the
    access line names the parameters with their values masked."""
    output = tmp_path / "uvicorn.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(output, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port),
             "--log-level", log_level],
            cwd=str(ROOT), env=server_env(database_url), stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            wait_until_ok(f"{base}/healthz", proc, output.read_text)
            form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
            pair = httpx.post(f"{base}/user/oauth/token", data=form, timeout=30).json()
            r = httpx.get(f"{base}/protected", params=QUERY_SECRETS, timeout=30)
            assert r.status_code == 401
            r = httpx.post(f"{base}/user/_logout", params={"access_token": pair["access_token"]}, timeout=30)
            assert r.status_code in (200, 204)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = output.read_text()
    for secret in (PASSWORD, pair["access_token"], pair["refresh_token"], *QUERY_SECRETS.values()):
        assert secret not in text
    every = [json.loads(line) for line in text.splitlines() if line.strip()]  # fails on a line that is not JSON
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in every)
    loggers = {line["logger"] for line in every}
    assert {"uvicorn.error", "uvicorn.access", "app.access", "app.audit"} <= loggers, loggers
    if log_level == "trace":
        assert "uvicorn.asgi" in loggers, loggers
    access = [line["message"] for line in every if line["logger"] == "uvicorn.access"]
    assert any('"POST /user/_logout?access_token=*** HTTP/1.1" 200' in message for message in access), access
    masked = "&".join(f"{name}=***" for name in QUERY_SECRETS)
    assert any(f'"GET /protected?{masked} HTTP/1.1" 401' in message for message in access), access
