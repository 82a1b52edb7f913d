"""/protected and its references in CPU instructions per request, counted by valgrind:
the same figure on every run, where CPU time on this shared 2-core machine moves by
±20 % between reps (bench/README.md). In-process (ASGI, no HTTP), so what it counts is
the framework and our code; the served ratios of the harness (`run.sh`) add uvicorn's
work, the same for every row, and stay the ones that count.

Each row runs in its own process under `valgrind --tool=callgrind` twice, with N and
N + 500 requests; the difference ÷ 500 is one request's instructions (start-up, imports,
the migration and the login cancel out). The session cache's clock is frozen after the
first request: under valgrind a run lasts ~50× longer, and an entry ageing out would
add reads that a served request of the same moment does not make.

    .venv/bin/python bench/instructions.py                 # the working tree
    .venv/bin/python bench/instructions.py --revision REV  # and `app/` at REV, row by row

Needs valgrind (`apt-get install valgrind`); ~1.5 min per row and code on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EXTRA = 500

ROWS = {
    "ceiling": "a bare FastAPI route (FastAPI's defaults), the harness's ceiling",
    "bound-dep": "the ceiling's route with one no-op dependency, FastAPI as our server configures it",
    "bound-ops": "bound-dep plus our request middleware (log line, metrics, X-Request-ID)",
    "protected": "our /protected with a valid token, its session cached",
    "protected-nolog": "the same without the request middleware (what it costs)",
    "answer": "our app without the middleware, a route answering /protected's body as /protected does "
              "(rendered once), no dependency: /protected minus this is what authentication costs a route",
}


def child(row: str, requests: int) -> None:
    sys.path.insert(0, str(BENCH))
    folder = tempfile.mkdtemp(prefix="instructions-")
    os.environ.update(DATABASE_URL=f"sqlite+aiosqlite:///{folder}/bench.db", JWT_SECRET="b" * 64,
                      RATE_LIMIT_ENABLED="false")
    from app.logs import configure_logging

    configure_logging("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115 - as `serve`, into /dev/null
    import asgi_cost as ac

    async def run(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        for _ in range(requests):
            assert await ac.call(app, ac.scope("GET", path, headers)) == 200

    if row == "ceiling" or row.startswith("bound-"):
        from benchlib.apps import bounds

        app = __import__("benchlib.apps.ceiling", fromlist=["app"]).app if row == "ceiling" else bounds.build(row[6:])
        asyncio.run(run(app, "/protected", []))
        return

    from app.cli import main as cli
    from app.main import create_app

    assert cli(["migrate"]) == 0
    sys.stdin = io.StringIO("bench-password-123\n")
    assert cli(["users", "create", "bench", "--password-stdin"]) == 0
    import uvloop

    app = create_app()
    if row in ("protected-nolog", "answer"):
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ != "RequestLog"]
    if row == "answer":
        from app.api.responses import Rendered
        from app.api.routes.session import _hello

        async def answer():  # type: ignore[no-untyped-def]  # no annotation for FastAPI to resolve
            return Rendered(*_hello("bench", 1, "0" * 32))

        app.get("/answer", response_model=None)(answer)
        app.router.routes.insert(0, app.router.routes.pop())  # first, as /protected is in our router

        # without the lifespan: its background work (the revocation feed's polls) runs
        # longer in the longer run under valgrind, and this route needs none of it
        uvloop.run(run(app, "/answer", []))
        return

    async def protected() -> None:
        async with app.router.lifespan_context(app):
            form = urlencode({"grant_type": "password", "username": "bench", "password": "bench-password-123"}).encode()
            headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", str(len(form)).encode())]
            pair = await ac.login(app, form, headers)
            bearer = [(b"authorization", f"Bearer {pair['access_token']}".encode())]
            assert await ac.call(app, ac.scope("GET", "/protected", bearer)) == 200  # the session's first read
            cache = app.state.services.session_cache
            frozen = cache._monotonic()
            cache._monotonic = lambda: frozen
            await run(app, "/protected", bearer)

    uvloop.run(protected())


def count(tree: Path, row: str, requests: int) -> int:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{REPO}", PYTHONHASHSEED="0")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                          __file__, "--child", row, str(requests)], env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not found:
        raise SystemExit(f"{row}: valgrind run failed\n{out.stderr[-2000:]}")
    return int(found.group(1))


def per_request(tree: Path, row: str, base: int) -> float:
    with ThreadPoolExecutor(2) as pool:  # the two runs of a row side by side, one per core
        low, high = pool.map(lambda n: count(tree, row, n), (base, base + EXTRA))
    return (high - low) / EXTRA


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revision", help="also count `app/` at this git revision")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {list(ROWS)}")
    parser.add_argument("--base", type=int, default=100, help="requests of the shorter run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    from benchlib.revision import app_at

    trees = {"tree": REPO} | ({args.revision: app_at(args.revision)} if args.revision else {})
    rows = [r for r in args.rows.split(",") if r]
    counts = {(name, row): per_request(tree, row, args.base) for row in rows for name, tree in trees.items()}
    print(f"{'row':<18} {'code':<12} {'instructions/request':>21} {'ceiling ÷ this':>15}")
    for (name, row), value in counts.items():
        top = counts.get((name, "ceiling"))
        ratio = f"{top / value:>14.3f}×" if top else ""
        print(f"{row:<18} {name:<12} {value:>21,.0f} {ratio:>15}")
    print("\n" + "\n".join(f"  {row}: {what}" for row, what in ROWS.items() if row in rows))


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
