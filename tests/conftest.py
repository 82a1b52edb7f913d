"""Fixtures: a real database for every test (SQLite, or PostgreSQL with
TEST_DATABASE=postgresql), a fresh app per test, a frozen clock.

PostgreSQL runs in a scratch database created for this run and dropped after it. Where
no PostgreSQL is reachable the PostgreSQL run skips with the reason, except in CI
(CI=true), where it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.clock import FrozenClock
from app.db.migrate import upgrade
from app.settings import Settings
from app.store.users import UserRecord
from tests.support import PASSWORD, TEST_SECRET, app_client, create_user, truncate_all

BACKEND = os.environ.get("TEST_DATABASE", "sqlite").lower()
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A scratch PostgreSQL database for this run, migrated to head."""
    name = f"authserver_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means "no PostgreSQL"
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({type(exc).__name__}: {exc})"
        if IN_CI:
            pytest.fail(f"{reason}; CI must not skip the PostgreSQL run", pytrace=False)
        pytest.skip(f"{reason}; start PostgreSQL or set TEST_POSTGRES_URL to run these tests")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    upgrade(Settings(database_url=url).database_url)
    try:
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(Settings(database_url=f"sqlite:///{path}").database_url)
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The plain URL a user would write; Settings normalises it to the async driver."""
    if BACKEND == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        asyncio.run(truncate_all(Settings(database_url=url).database_url))
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "auth.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        access_token_validity_minutes=20,
        refresh_token_validity_minutes=60,
        session_max_lifetime_minutes=24 * 60,
        _env_file=None,
    )


@pytest.fixture
async def user(settings: Settings) -> UserRecord:
    return await create_user(settings)


@pytest.fixture
async def client(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test's settings and clock, lifespan and all (`app_client`)."""
    async with app_client(settings, clock) as http:
        yield http


@pytest.fixture
def password() -> str:
    return PASSWORD


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql_only: needs a network database; not collected on SQLite runs")
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself (its query planner); not collected on PostgreSQL runs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of one backend are deselected (not skipped) on the other's run, so a CI log
    never shows a skip; on the PostgreSQL run its own tests follow its skip/fail rule."""
    other = "sqlite_only" if BACKEND == "postgresql" else "postgresql_only"
    keep = [i for i in items if i.get_closest_marker(other) is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
