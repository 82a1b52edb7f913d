"""Test helpers shared by every suite: databases, users, live servers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.clock import Clock, SystemClock
from app.settings import DEFAULT_ISSUER
from app.db.models import Base
from app.settings import Settings
from app.store.users import SqlUserStore, UserRecord
from app.security.passwords import CryptPasswordHasher

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_user(
    settings: Settings, username: str = "alice", password: str = PASSWORD, scope: str = "profile read write",
    *, hashed: str | None = None,
) -> UserRecord:
    """`hashed` stores that hash as it is (a legacy one, say) instead of hashing `password`."""
    from app.db.engine import make_engine
    from app.db.runner import make_runner

    engine = make_engine(settings)
    runner = make_runner(settings, engine)
    try:
        hashed = hashed or CryptPasswordHasher().hash_sync(password)
        return await SqlUserStore(engine, runner).create(username, hashed, scope, SystemClock().now())
    finally:
        await runner.close()
        await engine.dispose()


async def truncate_all(url: str) -> None:
    engine = create_async_engine(url)
    try:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


async def dump_database_text(url: str) -> str:
    """Every row of every table as text: what a stolen copy of the database would show."""
    engine = create_async_engine(url)
    chunks = []
    try:
        async with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in (await conn.execute(table.select())).all():
                    chunks.append(repr(tuple(row)))
    finally:
        await engine.dispose()
    return "\n".join(chunks)


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server or command of the tests. JWT_ISSUER is the default
    issuer, as several servers on one database need one issuer (the tests' own apps use
    the default too); `JWT_ISSUER=""` leaves it unset, so that `serve` derives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JWT_", "APP_ENV"))}
    env.update({"DATABASE_URL": database_url, "JWT_SECRET": TEST_SECRET, "JWT_ISSUER": DEFAULT_ISSUER,
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    if not env["JWT_ISSUER"]:
        del env["JWT_ISSUER"]
    return env


@contextmanager
def live_server(
    database_url: str, *, workers: int = 1, cwd: Path | None = None, output: Path | None = None, **env: str
) -> Iterator[str]:
    """A real `python -m app serve` on a free port; yields its base URL. `output`: a file
    that receives the server's stdout and stderr (its logs)."""
    with live_server_process(database_url, workers=workers, cwd=cwd, output=output, **env) as (base, _):
        yield base


@contextmanager
def live_server_process(
    database_url: str, *, workers: int = 1, cwd: Path | None = None, output: Path | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Like live_server, and hands over the process (to kill it, say)."""
    port = free_port()
    # a file, not a pipe: a chatty server never blocks
    log = open(output, "w+") if output else tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=str(cwd or ROOT),
        env=server_env(database_url, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read()

    try:
        wait_until_ok(f"{base}/healthz", proc, output)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def wait_until_ok(url: str, proc: subprocess.Popen[str], output: Callable[[], str], *, seconds: float = 30) -> None:
    """Poll `url` until it answers 200; a process that exits first, or a deadline
    passed, fails with what the process wrote (`output()`)."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{output()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 in {seconds:g} s:\n{output()}")
        time.sleep(0.1)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def password_grant(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD, **extra: str
) -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": password, **extra}
    return await client.post("/user/oauth/token", data=data)


async def login_pair(client: httpx.AsyncClient, **extra: str) -> dict[str, object]:
    r = await password_grant(client, **extra)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def refresh_grant(client: httpx.AsyncClient, refresh_token: object, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": str(refresh_token), **extra}
    return await client.post("/user/oauth/token", data=data)


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def app_client(
    settings: Settings, clock: Clock, *, peer: tuple[str, int] = ("203.0.113.7", 50000),
    routers: Sequence[APIRouter] = (), **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The one way tests build the app: `create_app` on `settings` (with `overrides`),
    any extra `routers` mounted, and its lifespan run as a server runs it — the start-up
    key check, the revocation feed and the purge task start before the first request,
    and the shutdown stops them and closes the services. The shutdown runs even when the
    test body fails, as a server's does when a request failed. `client.app` is the app
    (for its services)."""
    from app.main import create_app

    app = create_app(settings.model_copy(update=overrides) if overrides else settings, clock=clock)
    for router in routers:
        app.include_router(router)
    lifespan = app.router.lifespan_context(app)
    try:
        await lifespan.__aenter__()
    except BaseException:  # start-up refused: what create_app opened is still closed
        await app.state.services.aclose()
        raise
    try:
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await lifespan.__aexit__(None, None, None)


def sid_of(pair: dict[str, object]) -> str:
    """The session id an access token carries (its `sid` claim)."""
    import jwt

    return str(jwt.decode(str(pair["access_token"]), options={"verify_signature": False})["sid"])


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with `labels` in a /metrics answer (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
