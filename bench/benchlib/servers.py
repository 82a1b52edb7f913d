"""How each server under test is started, and the HTTP calls that prepare it (a user,
an access token, a pool of refresh tokens).

Our server runs exactly as users run it (`python -m app serve`: migrate, then uvicorn,
access log off); the ceiling and the peers run under the same uvicorn, the same FastAPI
and the same event loop/HTTP parser from this venv, with the access log off too.
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
    )
    return env


def prepare_database(env: dict[str, str], cwd: Path) -> None:
    """Migrate and create the bench user, with the same CLI an operator uses."""
    cwd.mkdir(parents=True, exist_ok=True)
    for args, stdin in ((["migrate"], None), (["users", "create", USERNAME, "--password-stdin"], PASSWORD + "\n")):
        done = subprocess.run([PY, "-m", "app", *args], input=stdin, text=True, env=env, cwd=cwd,
                              capture_output=True)
        if done.returncode:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"python -m app {args[0]} failed: {last[0]}")


def ours(name: str, cwd: Path, database_url: str, *, algorithm: str = "HS256",
         workers: int = 1, migrate: bool = True) -> Server:
    env = server_env(database_url, algorithm)
    if migrate:
        prepare_database(env, cwd)
    return Server(name, [PY, "-m", "app", "serve", "--host", "127.0.0.1", "--workers", str(workers)],
                  env, cwd)


def peer(name: str, module: str, cwd: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> Server:
    """A bench app (benchlib/apps) under the same uvicorn; `env` adds to its environment."""
    full_env = dict(os.environ, BENCH_JWT_SECRET=JWT_SECRET, BENCH_WORKDIR=str(cwd), **(env or {}))
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


def tokens_for_sessions(model_token: str, sessions: list[tuple[str, int]], path: Path) -> Path:
    """Access tokens for sessions the bench inserted in bulk (they have no login to take
    a token from): the claims, `kid` and lifetime of a real token of the server, with
    each session's `sid` and `sub`, signed with the server's JWT_SECRET. One a line."""
    import jwt

    header = jwt.get_unverified_header(model_token)
    claims = jwt.decode(model_token, options={"verify_signature": False})
    lines = []
    for session_id, user_id in sessions:
        mine = dict(claims, sid=session_id, sub=str(user_id), jti=secrets.token_urlsafe(16))
        lines.append(jwt.encode(mine, JWT_SECRET, algorithm=header["alg"], headers={"typ": header["typ"], "kid": header["kid"]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def peer_token(server: Server) -> str:
    """The peers mint their own token (their own format and secret handling)."""
    token = str(get_json(server.base + "/bench-token")["access_token"])
    get_json(server.base + "/protected", token)
    return token


def refresh_pool(server: Server, count: int, path: Path) -> Path:
    """`count` sessions from real password grants; their refresh tokens, one a line, start
    the chains the wrk refresh script rotates. Done before any measurement."""
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: str(login(server)["refresh_token"]), range(count)))
    path.write_text("\n".join(tokens) + "\n")
    return path
