"""Run Alembic from code, with the migrations found beside the package, so `migrate`
works from any directory, an installed wheel and the Docker image alike."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no OS lock; start one worker first there
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import private_sqlite_file, run_with_engine, sqlite_file
from app.settings import Settings, mask_url

MIGRATE_FIRST = "run `python -m app migrate` first"


def migrations_dir() -> Path:
    spec = importlib.util.find_spec("app.migrations")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "migrations"  # a source tree, not installed


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    private_sqlite_file(database_url)
    with _sqlite_file_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


@contextmanager
def _sqlite_file_lock(database_url: str) -> Iterator[None]:
    """Workers that start together each migrate. On PostgreSQL an advisory lock in env.py
    makes them take turns; a SQLite file can only be shared on one machine, so an OS lock
    beside it does the same (switching a new file to WAL cannot wait on SQLite's own lock)."""
    path = sqlite_file(database_url)
    if path is None or fcntl is None:
        yield
        return
    with open(f"{path}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def schema_problem(settings: Settings) -> str | None:
    """Why a command that expects the schema cannot run on this database, or None.

    Such a command would otherwise fail midway with "no such table", and SQLite would
    first create an empty database file wherever it happens to run. So a missing SQLite
    file is reported, not created, and a database without the schema, or with an older
    one, is named (its file, or its URL with the password masked) with the command that
    fixes it. A revision this code does not know is a newer schema: left to the command."""
    path = sqlite_file(settings.database_url)
    if path is not None and not os.path.exists(path):
        return f"there is no database at {os.path.abspath(path)} (DATABASE_URL): {MIGRATE_FIRST}"
    where = os.path.abspath(path) if path is not None else str(mask_url(settings.database_url))
    current = run_with_engine(settings, _current_revisions)
    if not current:
        return f"the database {where} has no schema: {MIGRATE_FIRST}"
    script = ScriptDirectory.from_config(alembic_config(settings.database_url))
    if current != set(script.get_heads()) and all(_known(script, revision) for revision in current):
        return f"the database {where} has an older schema (revision {', '.join(sorted(current))}): {MIGRATE_FIRST}"
    return None


async def _current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
