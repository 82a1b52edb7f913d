"""Graceful shutdown: SIGTERM while password grants are in flight.

Every request the server has already received is answered in full, then the process
exits by itself with status 0 and the port is closed. With PASSWORD_HASH_CONCURRENCY=1
argon2id serialises the logins (~35 ms each), so a burst keeps a worker busy for a while;
the signal goes out once every request is on the wire and the first answer is back.
A response started after the server began shutting down carries `Connection: close`
(uvicorn drops keep-alive on connections it drains), which shows that the drain, not
luck, answered them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.clock import SystemClock
from app.settings import Settings
from tests.support import PASSWORD, app_client, bearer, live_server_process

pytestmark = pytest.mark.usefixtures("user")
# every login of the burst queues for the one hashing thread: the queue's bound is not
# what these tests are about
ENV = {"RATE_LIMIT_ENABLED": "false", "PASSWORD_HASH_CONCURRENCY": "1", "PASSWORD_HASH_QUEUE": "1000"}
EXIT_BOUND_SECONDS = 15.0
MIN_DRAINED = 3  # answers that must have been started after shutdown began


async def _logins_across_sigterm(base: str, proc: subprocess.Popen[str], logins: int) -> tuple[list[object], int, float]:
    """Sends `logins` password grants at once and SIGTERMs `proc` once all are sent and
    the first is answered. Returns each outcome (a response or the exception), how many
    were unanswered at the signal, and the monotonic time of the signal."""
    sent = 0
    all_sent = asyncio.Event()

    async def trace(event: str, info: dict[str, object]) -> None:
        nonlocal sent
        if event == "http11.send_request_body.complete":
            sent += 1
            if sent == logins:
                all_sent.set()

    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    limits = httpx.Limits(max_connections=logins, max_keepalive_connections=logins)
    async with httpx.AsyncClient(base_url=base, timeout=EXIT_BOUND_SECONDS, limits=limits) as http:
        tasks = [
            asyncio.create_task(http.post("/user/oauth/token", data=form, extensions={"trace": trace}))
            for _ in range(logins)
        ]
        await asyncio.wait_for(all_sent.wait(), EXIT_BOUND_SECONDS)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED, timeout=EXIT_BOUND_SECONDS)
        in_flight = sum(not t.done() for t in tasks)
        os.kill(proc.pid, signal.SIGTERM)
        signalled = time.monotonic()
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), EXIT_BOUND_SECONDS)
    return list(outcomes), in_flight, signalled


def _worker_pids(pid: int) -> list[int]:
    """uvicorn's spawned workers among `pid`'s children (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _assert_drains(database_url: str, settings: Settings, *, workers: int, logins: int) -> None:
    with live_server_process(database_url, workers=workers, **ENV) as (base, proc):
        workers_before = _worker_pids(proc.pid) if workers > 1 else []
        if workers > 1:
            assert len(workers_before) == workers, workers_before
        outcomes, in_flight, signalled = await _logins_across_sigterm(base, proc, logins)

        failures = [o if isinstance(o, BaseException) else (o.status_code, o.text) for o in outcomes
                    if not isinstance(o, httpx.Response) or o.status_code != 200]
        assert not failures, f"{len(failures)} of {logins} logins failed across SIGTERM: {failures!r}"
        responses = [o for o in outcomes if isinstance(o, httpx.Response)]
        tokens = [r.json()["access_token"] for r in responses]
        assert all(r.json()["token_type"].lower() == "bearer" and r.json()["refresh_token"] for r in responses)
        drained = sum(r.headers.get("connection", "").lower() == "close" for r in responses)
        assert in_flight >= MIN_DRAINED, f"only {in_flight} logins were in flight at the signal"
        assert drained >= MIN_DRAINED, f"only {drained} answers were started after shutdown began"

        left = max(0.0, EXIT_BOUND_SECONDS - (time.monotonic() - signalled))
        try:
            returncode = await asyncio.to_thread(proc.wait, left)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {EXIT_BOUND_SECONDS:.0f} s after SIGTERM")
        exited_after = time.monotonic() - signalled
        assert returncode == 0, f"server exited with {returncode} after SIGTERM"
        assert not [pid for pid in workers_before if _alive(pid)], "a worker outlived its supervisor"
        async with httpx.AsyncClient(timeout=2) as fresh:
            with pytest.raises(httpx.ConnectError):
                await fresh.get(f"{base}/healthz")

    # The drained answers are real: the app on the same database and keys accepts every
    # token, so each login's session was committed. (In-process: another server start
    # would add ~2 s and show nothing more.)
    async with app_client(settings, SystemClock()) as http:
        statuses = [(await http.get("/protected", headers=bearer(t))).status_code for t in tokens]
    assert statuses == [200] * logins, statuses
    print(f"workers={workers}: {in_flight}/{logins} in flight at SIGTERM, {drained} answered while draining, "
          f"exit 0 after {exited_after:.2f} s")


async def test_sigterm_drains_in_flight_logins_then_exits_zero(database_url: str, settings: Settings) -> None:
    await _assert_drains(database_url, settings, workers=1, logins=16)


async def test_sigterm_to_the_supervisor_drains_every_worker(database_url: str, settings: Settings) -> None:
    """The supervisor checks for signals every 0.5 s before it SIGTERMs its workers, and
    two workers hash in parallel: more logins keep both busy past that delay."""
    await _assert_drains(database_url, settings, workers=2, logins=64)
