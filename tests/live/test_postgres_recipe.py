"""The README's PostgreSQL recipe, run as written against a real PostgreSQL: only what
the README calls placeholders (role and database name, password, port) are replaced, by
unique values, so the run never touches anyone's `authserver` database."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PG_ADMIN_URL
from tests.support import ROOT, free_port, wait_until_ok

pytestmark = pytest.mark.postgresql_only


def readme_recipe() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- postgres:start -->\s*```(?:sh|bash)\n(.*?)```\s*<!-- postgres:end -->", text, re.S)
    assert match, "README has no PostgreSQL recipe block"
    return match.group(1)


def admin_env() -> dict[str, str]:
    """Where `psql` and `createdb` find the server and its admin: the suite's own
    PostgreSQL, named as the README says (PGHOST, PGPORT, PGUSER)."""
    admin = urlsplit(PG_ADMIN_URL)
    if (admin.hostname, admin.port or 5432) != ("127.0.0.1", 5432):
        pytest.skip(f"the recipe names 127.0.0.1:5432; the suite's PostgreSQL is {admin.hostname}:{admin.port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JWT_", "APP_ENV", "PG"))}
    env.update(PGHOST="127.0.0.1", PGPORT="5432", PGUSER=admin.username or "postgres", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    name = f"authserver_recipe_{secrets.token_hex(4)}"
    yield {"name": name, "password": secrets.token_urlsafe(12), "port": str(free_port())}
    env = admin_env()
    for statement in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"'):
        subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-c", statement], env=env, capture_output=True, timeout=60)


def test_the_readme_postgres_recipe_runs_as_written(names: dict[str, str]) -> None:
    recipe = readme_recipe()
    for placeholder in ("authserver", "change-me", "8000"):
        assert placeholder in recipe
    script = recipe.replace("change-me", names["password"]).replace("8000", names["port"])
    script = script.replace("authserver", names["name"])
    base = f"http://127.0.0.1:{names['port']}"
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=admin_env(),
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        def output() -> str:
            log.seek(0)
            return log.read()

        try:
            wait_until_ok(f"{base}/readyz", proc, output, seconds=60)
            meta = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=30).json()
            assert meta["issuer"] == "https://auth.example.com"
            # the role owns the schema it migrated: queries run (an unknown user is invalid_grant)
            form = {"grant_type": "password", "username": "nobody", "password": "not-a-password"}
            r = httpx.post(f"{base}/user/oauth/token", data=form, timeout=30)
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # bash, serve and its workers: the group it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
