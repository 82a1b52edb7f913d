"""python -m app: migrate and users create, from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import TEST_SECRET, app_client, password_grant


def cli(args: list[str], url: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JWT_", "APP_ENV"))}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "app", *args], input=stdin, cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120,
    )


async def test_users_create_reads_stdin_and_strips_one_newline(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    created = cli(["users", "create", "bob", "--password-stdin"], database_url, tmp_path, stdin="s3cret pw \n")
    assert created.returncode == 0, created.stderr
    assert "s3cret" not in created.stdout + created.stderr
    settings = Settings(database_url=database_url, jwt_secret=TEST_SECRET, _env_file=None)  # type: ignore[call-arg]
    async with app_client(settings, clock) as client:
        assert (await password_grant(client, username="bob", password="s3cret pw ")).status_code == 200
        assert (await password_grant(client, username="bob", password="s3cret pw \n")).status_code == 400


def test_duplicate_user_exits_non_zero_with_a_message(database_url: str, tmp_path: Path) -> None:
    assert cli(["users", "create", "carol", "--password-stdin"], database_url, tmp_path, "pw\n").returncode == 0
    again = cli(["users", "create", "carol", "--password-stdin"], database_url, tmp_path, "pw\n")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_empty_password_is_refused(database_url: str, tmp_path: Path) -> None:
    r = cli(["users", "create", "dave", "--password-stdin"], database_url, tmp_path, "\n")
    assert r.returncode != 0 and "empty" in r.stderr


def test_migrate_works_from_any_directory(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    url = f"sqlite:///{tmp_path}/fresh.db"
    r = cli(["migrate"], url, elsewhere)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fresh.db").exists()
    assert cli(["migrate"], url, elsewhere).returncode == 0  # idempotent


async def test_admin_cli_disable_sessions_and_audit(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    import json

    assert cli(["users", "create", "erin", "--password-stdin"], database_url, tmp_path, "a password\n").returncode == 0
    settings = Settings(database_url=database_url, jwt_secret=TEST_SECRET, _env_file=None)  # type: ignore[call-arg]
    async with app_client(settings, clock) as client:
        r = await password_grant(client, username="erin", password="a password")
        token = r.json()["access_token"]
        listed = cli(["sessions", "list", "erin"], database_url, tmp_path)
        assert listed.returncode == 0 and len(listed.stdout.strip().splitlines()) == 1
        assert json.loads(listed.stdout)["id"]
        disabled = cli(["users", "disable", "erin"], database_url, tmp_path)
        assert disabled.returncode == 0 and "ended 1 sessions" in disabled.stdout
        assert (await client.get("/protected", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        tail = cli(["audit", "tail", "-n", "5"], database_url, tmp_path)
        events = [json.loads(line)["event"] for line in tail.stdout.strip().splitlines()]
        assert events[-1] == "user_disabled" and "login_succeeded" in events
        assert "a password" not in tail.stdout and token not in tail.stdout
        assert cli(["users", "disable", "nobody"], database_url, tmp_path).returncode == 1
