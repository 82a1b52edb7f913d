"""How each server is started, and the HTTP calls that prepare it (a user, an access
token, a pool of refresh tokens).

Our server runs exactly as users run it (`python -m app serve`: migrate, then uvicorn),
with the Python of the build under test (`python`: the bench venv's, or a venv ab.py made
for a revision). The reference apps (benchlib/apps) run under the same uvicorn and FastAPI
from the bench venv, with uvicorn's access log off as `serve` has it. Users come from the
CLI (`python -m app users create`), tokens from the public token endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib.procs import Server

BENCH_DIR = Path(__file__).resolve().parents[1]
PY = sys.executable
USERNAME = "bench"
PASSWORD = "bench-password-" + secrets.token_hex(4)
JWT_SECRET = secrets.token_urlsafe(64)  # 64 bytes: long enough for HS512 without warnings
LOGIN_BODY = urllib.parse.urlencode({"grant_type": "password", "username": USERNAME, "password": PASSWORD})


def server_env(database_url: str, algorithm: str = "HS256") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        JWT_SECRET=JWT_SECRET,
        JWT_ALGORITHM=algorithm,
        RATE_LIMIT_ENABLED="false",
        ACCESS_TOKEN_VALIDITY_MINUTES="600",  # nothing expires during a run
        REFRESH_TOKEN_VALIDITY_MINUTES="600",
        SESSION_MAX_LIFETIME_MINUTES="1440",
        MAX_SESSIONS_PER_USER="100000",  # every chain of the token pools is a session of the one bench user
    )
    return env


def prepare_database(env: dict[str, str], cwd: Path, python: str = PY) -> None:
    """Migrate and create the bench user, with the same CLI an operator uses."""
    cwd.mkdir(parents=True, exist_ok=True)
    for args, stdin in ((["migrate"], None), (["users", "create", USERNAME, "--password-stdin"], PASSWORD + "\n")):
        done = subprocess.run([python, "-m", "app", *args], input=stdin, text=True, env=env, cwd=cwd,
                              capture_output=True)
        if done.returncode:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"python -m app {args[0]} failed: {last[0]}")


def ours(name: str, cwd: Path, database_url: str, *, python: str = PY, algorithm: str = "HS256",
         workers: int = 1) -> Server:
    env = server_env(database_url, algorithm)
    prepare_database(env, cwd, python)
    return Server(name, [python, "-m", "app", "serve", "--host", "127.0.0.1", "--workers", str(workers)],
                  env, cwd)


def reference_app(name: str, module: str, cwd: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> Server:
    """A reference app (benchlib/apps) under uvicorn; `env` adds to its environment."""
    full_env = dict(os.environ, **(env or {}))
    argv = [PY, "-m", "uvicorn", f"benchlib.apps.{module}:app", "--app-dir", str(BENCH_DIR),
            "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning", "--workers", str(workers)]
    return Server(name, argv, full_env, cwd)


def post_form(url: str, body: str, timeout: float = 60) -> dict[str, object]:
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def get_json(url: str, token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def login(server: Server) -> dict[str, object]:
    return post_form(server.base + "/user/oauth/token", LOGIN_BODY)


def access_token(server: Server) -> str:
    """A real access token from a password grant, checked once on /protected."""
    token = str(login(server)["access_token"])
    get_json(server.base + "/protected", token)
    return token


def refresh_pool(server: Server, count: int, path: Path) -> Path:
    """`count` sessions from real password grants; their refresh tokens, one a line, start
    the chains the wrk refresh script rotates. Done before any measurement."""
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: str(login(server)["refresh_token"]), range(count)))
    path.write_text("\n".join(tokens) + "\n")
    return path
