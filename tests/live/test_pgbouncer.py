"""Behind PgBouncer in transaction mode, with asyncpg's prepared-statement cache off
(DB_STATEMENT_CACHE_SIZE=0): the server works, and rotation is still race-safe."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import IN_CI
from tests.support import PASSWORD, bearer, free_port, live_server

pytestmark = [pytest.mark.postgresql_only, pytest.mark.usefixtures("user")]
PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


@contextmanager
def pgbouncer(target_host: str, target_port: int) -> Iterator[int]:
    if PGBOUNCER is None:
        if IN_CI:
            pytest.fail("pgbouncer is not installed (scripts/test.sh installs it in CI)", pytrace=False)
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    (workdir / "users.txt").write_text('"postgres" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={target_host} port={target_port}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir}/users.txt\npool_mode = transaction\n"
        "default_pool_size = 4\nmax_client_conn = 200\nignore_startup_parameters = extra_float_digits\n"
        f"logfile = {workdir}/pgbouncer.log\npidfile = {workdir}/pgbouncer.pid\n"
    )
    os.chmod(workdir, 0o777)
    for f in workdir.iterdir():
        os.chmod(f, 0o666)
    cmd = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        cmd[1:1] = ["-u", "postgres"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, (workdir / "pgbouncer.log").read_text() if (workdir / "pgbouncer.log").exists() else "pgbouncer died"
                assert time.monotonic() < deadline, "pgbouncer did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


async def test_server_behind_pgbouncer_transaction_mode(database_url: str) -> None:
    target = urlsplit(database_url)
    with pgbouncer(target.hostname or "127.0.0.1", target.port or 5432) as port:
        user = target.netloc.rsplit("@", 1)[0] + "@" if "@" in target.netloc else ""
        url = urlunsplit(target._replace(netloc=f"{user}127.0.0.1:{port}"))
        with live_server(url, DB_STATEMENT_CACHE_SIZE="0", RATE_LIMIT_ENABLED="false") as base:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
                for _ in range(3):  # enough round trips to cross server connections
                    pair = (await http.post("/user/oauth/token", data=form)).json()
                    assert (await http.get("/user/me", headers=bearer(pair["access_token"]))).status_code == 200
                    r = await http.post("/refresh", headers=bearer(pair["refresh_token"]))
                    assert r.status_code == 200, r.text
                results = await asyncio.gather(
                    *(http.post("/refresh", headers=bearer(r.json()["refresh_token"])) for _ in range(20))
                )
                assert Counter(x.status_code for x in results) == {200: 1, 401: 19}
                pair = (await http.post("/user/oauth/token", data=form)).json()
                assert (await http.post("/user/_logout", headers=bearer(pair["access_token"]))).status_code == 200
                assert (await http.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401
