"""What a request costs inside the ASGI app, without HTTP: our /protected and the refresh
grant against the bare FastAPI ceiling, called directly in one process, interleaved.

The wrk harness (run.sh) gives the numbers that count; this one is for quick, quiet
iterations on the hot paths (no sockets, no uvicorn, no other core involved): the ratio
of our /protected to the ceiling here is the ratio of per-request CPU that our code adds.

    .venv/bin/python bench/asgi_cost.py [--requests 20000] [--reps 5] [--profile protected|refresh]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: ASGI, sc: dict[str, Any], body: bytes = b"") -> int:
    return (await call_json(app, sc, body, parse=False))[0]


async def timed(label: str, n: int, one: Callable[[int], Awaitable[int]]) -> float:
    started = time.process_time()
    for i in range(n):
        status = await one(i)
        if status != 200:
            raise SystemExit(f"{label}: status {status}")
    return (time.process_time() - started) / n * 1e6


def prepare() -> argparse.Namespace:
    """Settings in the environment, the schema and a user: before any event loop runs
    (the CLI runs its own)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--profile", choices=["protected", "refresh"])
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="asgi-cost-")
    url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
    os.environ.update(DATABASE_URL=url, JWT_SECRET="b" * 64, RATE_LIMIT_ENABLED="false")
    # The server's own logging, as `serve` sets it up, but into /dev/null.
    from app.logs import configure_logging

    configure_logging("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115

    from app.cli import main as cli

    assert cli(["migrate"]) == 0
    sys.stdin = io.StringIO("bench-password-123\n")
    assert cli(["users", "create", "bench", "--password-stdin"]) == 0
    return args


async def main(args: argparse.Namespace) -> None:
    from app.main import create_app
    from benchlib.apps.ceiling import app as ceiling

    ours = create_app()
    async with ours.router.lifespan_context(ours):
        form = urlencode({"grant_type": "password", "username": "bench", "password": "bench-password-123"}).encode()
        form_headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", str(len(form)).encode())]
        pair = await login(ours, form, form_headers)
        bearer = [(b"authorization", f"Bearer {pair['access_token']}".encode())]
        refresh_tokens = [pair["refresh_token"]]

        async def protected(_: int) -> int:
            return await call(ours, scope("GET", "/protected", bearer))

        async def bare(_: int) -> int:
            return await call(ceiling, scope("GET", "/protected", []))

        async def refresh(_: int) -> int:
            body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_tokens[-1]}).encode()
            headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", str(len(body)).encode())]
            status, answer = await call_json(ours, scope("POST", "/user/oauth/token", headers), body)
            refresh_tokens[-1] = answer.get("refresh_token", "")
            return status

        if args.profile:
            fn = protected if args.profile == "protected" else refresh
            prof = cProfile.Profile()
            prof.enable()
            await timed(args.profile, args.requests, fn)
            prof.disable()
            pstats.Stats(prof).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(45)
            return

        rows: dict[str, list[float]] = {"ceiling": [], "protected": [], "refresh": []}
        for _ in range(args.reps):
            rows["ceiling"].append(await timed("ceiling", args.requests, bare))
            rows["protected"].append(await timed("protected", args.requests, protected))
            rows["refresh"].append(await timed("refresh", max(200, args.requests // 10), refresh))
        ceiling_us = statistics.median(rows["ceiling"])
        print(f"{'path':<12} {'CPU µs/request (median of ' + str(args.reps) + ')':>34} {'÷ ceiling':>10}")
        for name, values in rows.items():
            med = statistics.median(values)
            print(f"{name:<12} {med:>34.1f} {med / ceiling_us:>10.2f}")


async def login(app: ASGI, form: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    status, answer = await call_json(app, scope("POST", "/user/oauth/token", headers), form)
    assert status == 200, answer
    return answer


async def call_json(app: ASGI, sc: dict[str, Any], body: bytes, *, parse: bool = True) -> tuple[int, dict[str, Any]]:
    """One request straight into the ASGI app: its status, and its JSON body if asked."""
    chunks: list[bytes] = []
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif parse and message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(sc, state={}), receive, send)
    return status, (json.loads(b"".join(chunks) or b"{}") if parse else {})


if __name__ == "__main__":
    options = prepare()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(options))
    else:
        uvloop.run(main(options))
