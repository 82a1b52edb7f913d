"""Migrations: upgrade an empty database to head, find no drift from the models, downgrade
to base and upgrade again, on the backend under test."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.base import Base
from app.db.migrate import downgrade, upgrade
from app.settings import Settings
from tests.conftest import BACKEND, PG_ADMIN_URL, _pg_admin


@pytest.fixture
def empty_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if BACKEND == "postgresql":
        request.getfixturevalue("postgres_url")  # skips or fails with the reason when unreachable
        name = f"authserver_mig_{os.getpid()}_{secrets.token_hex(3)}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        yield Settings(database_url=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", _env_file=None).database_url  # type: ignore[call-arg]
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        yield Settings(database_url=f"sqlite:///{tmp_path}/m.db", _env_file=None).database_url  # type: ignore[call-arg]


async def _state(url: str) -> tuple[list[object], set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            def read(sync_conn):  # type: ignore[no-untyped-def]
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata), set(inspect(sync_conn).get_table_names())
            return await conn.run_sync(read)  # type: ignore[no-any-return]
    finally:
        await engine.dispose()


def test_upgrade_matches_models_and_downgrade_works(empty_url: str) -> None:
    tables = {t.name for t in Base.metadata.sorted_tables}
    upgrade(empty_url)
    diff, present = asyncio.run(_state(empty_url))
    assert diff == []
    assert tables <= present
    downgrade(empty_url, "base")
    _, present = asyncio.run(_state(empty_url))
    assert not tables & present
    upgrade(empty_url)
    diff, present = asyncio.run(_state(empty_url))
    assert diff == [] and tables <= present


def test_migration_files_are_named_by_date() -> None:
    import re

    from app.db.migrate import migrations_dir

    names = [p.name for p in (migrations_dir() / "versions").glob("*.py") if p.name != "__init__.py"]
    assert names and all(re.match(r"^\d{4}-\d{2}-\d{2}_[a-z0-9_]+\.py$", n) for n in names)


def test_replicas_migrating_at_once_take_turns(empty_url: str) -> None:
    """Several replicas start together and each runs `serve` (which migrates first)."""
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": empty_url}
    procs = [
        subprocess.Popen([sys.executable, "-m", "app", "migrate"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    diff, _ = asyncio.run(_state(empty_url))
    assert diff == []
