"""python -m app: migrate, users, sessions and audit, from any working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import TEST_SECRET, app_client, bearer, password_grant, refresh_grant, sid_of


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
    assert cli(["users", "create", "carol", "--password-stdin"], database_url, tmp_path, "a password\n").returncode == 0
    again = cli(["users", "create", "carol", "--password-stdin"], database_url, tmp_path, "a password\n")
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
            [sys.executable, "-m", "app", *args], input="long-enough-pw\n", cwd=tmp_path, env=env,
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
        r = cli(["users", "create", "bob", "--password-stdin"], url, tmp_path, "long-enough-pw\n")
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
    r = cli(["users", "create", "bob", "--password-stdin"], url, tmp_path, "long-enough-pw\n")
    assert r.returncode == 1
    assert "older schema" in r.stderr and "python -m app migrate" in r.stderr
    assert cli(["migrate"], url, tmp_path).returncode == 0
    assert cli(["users", "create", "bob", "--password-stdin"], url, tmp_path, "long-enough-pw\n").returncode == 0

def _settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, jwt_secret=TEST_SECRET, _env_file=None)  # type: ignore[call-arg]


def _audit(database_url: str, cwd: Path, event: str) -> list[dict[str, object]]:
    import json

    tail = cli(["audit", "tail", "-n", "100", "--event", event], database_url, cwd)
    assert tail.returncode == 0, tail.stderr
    return [json.loads(line) for line in tail.stdout.splitlines()]


def _users(database_url: str, cwd: Path) -> list[dict[str, object]]:
    import json

    listed = cli(["users", "list"], database_url, cwd)
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


async def test_set_password_ends_every_session_and_is_audited(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    assert cli(["users", "create", "erin", "--password-stdin"], database_url, tmp_path, "a password\n").returncode == 0
    async with app_client(_settings(database_url), clock) as client:
        pairs = [(await password_grant(client, username="erin", password="a password")).json() for _ in range(2)]
        done = cli(["users", "set-password", "erin", "--password-stdin"], database_url, tmp_path, "another password\n")
        assert done.returncode == 0, done.stderr
        assert "ended 2 sessions" in done.stdout and "another password" not in done.stdout + done.stderr
        for pair in pairs:
            assert (await client.get("/user/me", headers=bearer(pair["access_token"]))).status_code == 401
            assert (await refresh_grant(client, pair["refresh_token"])).json()["error"] == "invalid_grant"
        assert (await password_grant(client, username="erin", password="a password")).status_code == 400
        assert (await password_grant(client, username="erin", password="another password")).status_code == 200
    events = _audit(database_url, tmp_path, "password_set")
    assert [(e["username"], e["actor"], e["detail"]) for e in events] == [("erin", "cli", "ended 2 sessions")]


async def test_list_enable_set_scope_and_delete_users(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    for name in ("erin", "frank"):
        assert cli(["users", "create", name, "--password-stdin"], database_url, tmp_path, "a password\n").returncode == 0
    listed = _users(database_url, tmp_path)
    assert [(u["username"], u["scope"], u["is_active"]) for u in listed] == [("erin", "profile", True), ("frank", "profile", True)]

    scoped = cli(["users", "set-scope", "erin", "--scope", "profile read admin"], database_url, tmp_path)
    assert scoped.returncode == 0, scoped.stderr
    assert cli(["users", "disable", "erin"], database_url, tmp_path).returncode == 0
    assert [u["is_active"] for u in _users(database_url, tmp_path)] == [False, True]
    assert cli(["users", "enable", "erin"], database_url, tmp_path).returncode == 0
    async with app_client(_settings(database_url), clock) as client:
        pair = (await password_grant(client, username="erin", password="a password")).json()
        assert pair["scope"] == "profile read admin"
        frank = (await password_grant(client, username="frank", password="a password")).json()
        deleted = cli(["users", "delete", "frank"], database_url, tmp_path)
        assert deleted.returncode == 0 and "ended 1 sessions" in deleted.stdout
        assert (await client.get("/user/me", headers=bearer(frank["access_token"]))).status_code == 401
        assert (await refresh_grant(client, frank["refresh_token"])).json()["error"] == "invalid_grant"
        assert (await password_grant(client, username="frank", password="a password")).status_code == 400
    assert [u["username"] for u in _users(database_url, tmp_path)] == ["erin"]
    assert cli(["users", "delete", "frank"], database_url, tmp_path).returncode == 1
    for event in ("user_created", "user_scope_changed", "user_disabled", "user_enabled", "user_deleted"):
        assert [e["actor"] for e in _audit(database_url, tmp_path, event)][-1] == "cli", event
    assert [e["username"] for e in _audit(database_url, tmp_path, "user_deleted")] == ["frank"]


async def test_end_one_session_or_all_of_a_user(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    assert cli(["users", "create", "erin", "--password-stdin"], database_url, tmp_path, "a password\n").returncode == 0
    async with app_client(_settings(database_url), clock) as client:
        one, two, three = [(await password_grant(client, username="erin", password="a password")).json() for _ in range(3)]
        ended = cli(["sessions", "end", "erin", sid_of(one)], database_url, tmp_path)
        assert ended.returncode == 0, ended.stderr
        assert (await refresh_grant(client, one["refresh_token"])).json()["error"] == "invalid_grant"
        again = cli(["sessions", "end", "erin", sid_of(one)], database_url, tmp_path)
        assert again.returncode == 1 and again.stderr.startswith("error: no session")
        everything = cli(["sessions", "end-all", "erin"], database_url, tmp_path)
        assert everything.returncode == 0 and "ended 2 sessions" in everything.stdout
        for pair in (two, three):
            assert (await client.get("/user/me", headers=bearer(pair["access_token"]))).status_code == 401
            assert (await refresh_grant(client, pair["refresh_token"])).json()["error"] == "invalid_grant"
    assert [e["actor"] for e in _audit(database_url, tmp_path, "session_ended")] == ["cli"]
    assert [e["actor"] for e in _audit(database_url, tmp_path, "logout")] == ["cli"]


REFUSED = [
    (["users", "create", "p\u0430ypal", "--password-stdin"], "a password\n", "scripts"),
    (["users", "create", "erin ", "--password-stdin"], "a password\n", "whitespace"),
    (["users", "create", "x" * 151, "--password-stdin"], "a password\n", "150"),
    (["users", "create", "bob", "--password-stdin"], "short\n", "8 to 1024"),
    (["users", "create", "bob", "--password-stdin"], "x" * 2000 + "\n", "8 to 1024"),
    (["users", "create", "bob", "--password-stdin", "--scope", "profile root"], "a password\n", "Unknown scope: root"),
    (["users", "set-scope", "erin", "--scope", "profile  read"], None, "3.3"),
    (["users", "set-password", "erin", "--password-stdin"], "x" * 1025 + "\n", "8 to 1024"),
    (["users", "enable", "nobody"], None, "no user 'nobody'"),
]


def test_invalid_input_is_one_error_line_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    assert cli(["users", "create", "erin", "--password-stdin"], database_url, tmp_path, "a password\n").returncode == 0
    before = cli(["audit", "tail", "-n", "100"], database_url, tmp_path).stdout
    for args, stdin, says in REFUSED:
        done = cli(args, database_url, tmp_path, stdin)
        assert done.returncode == 1 and done.stdout == "", args
        assert done.stderr.startswith("error: ") and says in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert [(u["username"], u["scope"]) for u in _users(database_url, tmp_path)] == [("erin", "profile")]
    assert cli(["audit", "tail", "-n", "100"], database_url, tmp_path).stdout == before
