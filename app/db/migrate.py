"""Run Alembic from code, with the migrations found beside the package, so `migrate`
works from any directory, an installed wheel and the Docker image alike."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no OS lock; start one worker first there
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config

from app.db.engine import private_sqlite_file


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
    path = database_url.split(":///", 1)[1] if database_url.startswith("sqlite") else ""
    if not path or path.startswith(":memory:") or fcntl is None:
        yield
        return
    with open(f"{path}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
