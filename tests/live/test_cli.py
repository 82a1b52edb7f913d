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


def test_a_command_without_a_database_names_the_file_and_creates_none(tmp_path: Path) -> None:
    """The default DATABASE_URL is a file in the working directory: a command run in the
    wrong folder, or before `migrate`, says where it looked, and leaves no empty file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JWT_", "APP_ENV"))}
    for args in (["users", "create", "bob", "--password-stdin"], ["clients", "list"], ["purge"]):
        r = subprocess.run(
            [sys.executable, "-m", "app", *args], input="pw\n", cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 1, r.stderr
        [line] = r.stderr.splitlines()
        assert line.startswith("error: ") and str(tmp_path / "authserver.db") in line
        assert "python -m app migrate" in line
        assert list(tmp_path.iterdir()) == []


def test_a_database_without_the_schema_is_named_with_its_password_masked(tmp_path: Path) -> None:
    from tests.conftest import BACKEND, PG_ADMIN_URL, _pg_admin

    if BACKEND == "postgresql":
        import asyncio
        import secrets

        from sqlalchemy.engine import make_url

        name = f"authserver_empty_{secrets.token_hex(4)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(password="not-shown-pw", database=name).render_as_string(hide_password=False)
        where = name
    else:
        (tmp_path / "empty.db").touch(mode=0o600)
        url, where = f"sqlite:///{tmp_path}/empty.db", str(tmp_path / "empty.db")
    try:
        r = cli(["users", "create", "bob", "--password-stdin"], url, tmp_path, "pw\n")
    finally:
        if BACKEND == "postgresql":
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert r.returncode == 1
    [line] = r.stderr.splitlines()
    assert where in line and "has no schema" in line and "python -m app migrate" in line
    assert "not-shown-pw" not in line


def test_an_older_schema_asks_for_migrate(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from app.db.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path}/old.db"
    normalised = Settings(database_url=url, _env_file=None).database_url  # type: ignore[call-arg]
    first = ScriptDirectory.from_config(alembic_config(normalised)).get_base()
    assert first is not None
    upgrade(normalised, first)
    r = cli(["users", "create", "bob", "--password-stdin"], url, tmp_path, "pw\n")
    assert r.returncode == 1
    assert "older schema" in r.stderr and "python -m app migrate" in r.stderr
    assert cli(["migrate"], url, tmp_path).returncode == 0
    assert cli(["users", "create", "bob", "--password-stdin"], url, tmp_path, "pw\n").returncode == 0
