"""The command line as a curl user runs it: `python -m authclient` in a subprocess, the
password on stdin, the session in the XDG config folder, a token that curl can use."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import time
from pathlib import Path

import httpx

from authclient import SessionFile
from tests.client.helpers import PYTHON, USERNAME, subprocess_env


def _cli(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "authclient", *args], input=stdin, capture_output=True, text=True,
        env=subprocess_env(**env), timeout=30,
    )


def _me(server: str, token: str) -> httpx.Response:
    return httpx.get(f"{server}/user/me", headers={"Authorization": f"Bearer {token}"})


def test_login_token_whoami_logout(server: str, password: str, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "AUTHCLIENT_SERVER": server, "HOME": str(tmp_path)}
    default_file = tmp_path / "xdg" / "authclient" / "session.json"

    login = _cli("login", USERNAME, "--password-stdin", stdin=password + "\n", **env)
    assert login.returncode == 0, login.stderr
    assert f"logged in as {USERNAME}" in login.stdout and str(default_file) in login.stdout
    assert stat.S_IMODE(default_file.stat().st_mode) == 0o600
    assert password not in login.stdout + login.stderr

    token = _cli("token", **env)
    assert token.returncode == 0, token.stderr
    access = token.stdout.strip()
    assert token.stdout == access + "\n" and access.count(".") == 2  # one JWT, nothing else
    assert _me(server, access).json()["username"] == USERNAME  # what curl -H "Authorization: Bearer $(...)" sends

    whoami = _cli("whoami", **env)
    assert whoami.returncode == 0, whoami.stderr
    assert whoami.stdout.startswith(f"{USERNAME} (id ") and "scopes: profile read write" in whoami.stdout
    assert access not in whoami.stdout

    status = _cli("status", **env)
    assert status.returncode == 0 and status.stdout.startswith(f"{USERNAME} at {server}, session ")

    logout = _cli("logout", **env)
    assert logout.returncode == 0, logout.stderr
    assert f"logged out {USERNAME}" in logout.stdout and not default_file.exists()
    assert _me(server, access).status_code == 401  # ended on the server, not only forgotten here

    after = _cli("token", **env)
    assert after.returncode == 1 and "not logged in" in after.stderr and "authclient login" in after.stderr
    assert after.stdout == ""


def test_token_refreshes_when_due_and_options_override_the_environment(
    server: str, password: str, tmp_path: Path
) -> None:
    chosen = tmp_path / "chosen.json"
    env = {"AUTHCLIENT_SESSION_FILE": str(tmp_path / "from-env.json"), "AUTHCLIENT_SERVER": "http://127.0.0.1:9"}
    login = _cli("login", USERNAME, "--password-stdin", "--server", server,
                 "--session-file", str(chosen), stdin=password, **env)
    assert login.returncode == 0, login.stderr
    assert chosen.exists() and not (tmp_path / "from-env.json").exists()
    first = _cli("token", "--session-file", str(chosen)).stdout.strip()  # server read from the file
    assert _cli("token", "--session-file", str(chosen)).stdout.strip() == first  # not due: kept
    # The CLI runs in its own process on the real clock: the stored session is made to say
    # its access token expires in 10 s, inside the 30 s margin, so the refresh is due now.
    stored = SessionFile(chosen)
    session = stored.load(server)
    assert session is not None
    stored.save(dataclasses.replace(session, access_expires_at=time.time() + 10))
    second = _cli("token", "--session-file", str(chosen))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() not in ("", first)
    assert _me(server, second.stdout.strip()).status_code == 200

    wrong = _cli("login", USERNAME, "--password-stdin", "--server", server,
                 "--session-file", str(chosen), stdin="wrong-password-xyzzy\n")
    assert wrong.returncode == 1 and "login refused" in wrong.stderr and "xyzzy" not in wrong.stderr

    nowhere = _cli("token", "--session-file", str(tmp_path / "none.json"))
    assert nowhere.returncode == 2 and "--server" in nowhere.stderr
