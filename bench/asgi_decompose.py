"""Where /protected's CPU goes beyond the bare FastAPI ceiling, in steps, in-process (no
HTTP): the ceiling app; our app serving a route that does nothing; the same with one
trivial FastAPI dependency, and with one that takes `SecurityScopes` (as ours must, for
`require_scopes`); with our `access_token_required`; our real /protected. Each step
adds one thing, so the differences are its cost (bench/README.md, "Why the missed
targets stay missed"). Then the harness's pure-FastAPI `bound` rows, in-process.

    .venv/bin/python bench/asgi_decompose.py [--requests 20000] [--reps 5]
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and
# these endpoints' names are imported inside main().
import statistics
from typing import TYPE_CHECKING
import sys
from urllib.parse import urlencode

import asgi_cost as ac

if TYPE_CHECKING:
    from fastapi import FastAPI


async def main(requests: int, reps: int) -> None:
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse
    from fastapi.security import SecurityScopes

    from app.api.deps import CurrentPrincipal
    from app.main import create_app
    from benchlib.apps.ceiling import app as ceiling

    app = create_app()

    async def trivial(request: Request) -> int:
        return 1

    async def trivial_scopes(security_scopes: SecurityScopes, request: Request) -> int:
        return 1

    def answer() -> JSONResponse:
        return JSONResponse({"message": "Hello", "user_id": 1})

    async def nothing() -> JSONResponse:
        return answer()

    async def one_dependency(x: int = Depends(trivial)) -> JSONResponse:
        return answer()

    async def with_scopes(x: int = Depends(trivial_scopes)) -> JSONResponse:
        return answer()

    async def ours(principal: CurrentPrincipal) -> JSONResponse:
        return answer()

    steps = {"/x/nothing": nothing, "/x/dependency": one_dependency, "/x/scopes": with_scopes, "/x/ours": ours}
    for path, endpoint in steps.items():
        _first(app, path, endpoint)

    async with app.router.lifespan_context(app):
        form = urlencode({"grant_type": "password", "username": "bench", "password": "bench-password-123"}).encode()
        headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", str(len(form)).encode())]
        pair = await ac.login(app, form, headers)
        bearer = [(b"authorization", f"Bearer {pair['access_token']}".encode())]
        rows: dict[str, list[float]] = {
            "ceiling (bare FastAPI app)": [], "ours, a route doing nothing": [], "+ one trivial dependency": [],
            "  … taking SecurityScopes": [], "  … our access_token_required": [], "/protected": [],
        }
        targets = [(ceiling, "/protected", [])] + [(app, p, bearer) for p in steps] + [(app, "/protected", bearer)]
        for _ in range(reps):
            for (label, values), (target, path, hd) in zip(rows.items(), targets):
                values.append(await ac.timed(label, requests, lambda _i, t=target, p=path, h=hd: ac.call(t, ac.scope("GET", p, h))))
        # each row's cost is measured against the row it adds to
        base = {1: 0, 2: 1, 3: 1, 4: 1, 5: 4}
        meds = [statistics.median(v) for v in rows.values()]
        print(f"{'step':<34} {'CPU µs/request (median of ' + str(reps) + ')':>34} {'adds µs':>8}")
        for i, (label, med) in enumerate(zip(rows, meds)):
            adds = f"{med - meds[base[i]]:+8.1f}" if i in base else ""
            print(f"{label:<34} {med:>34.1f} {adds:>8}")
        await _bounds(ceiling, requests, reps)


async def _bounds(ceiling: "FastAPI", requests: int, reps: int) -> None:
    """The `bound` rows of the harness (benchlib/apps/bounds.py) in-process, beside the
    ceiling and the ceiling with FastAPI's OpenTelemetry instrumentation off (as our app
    runs when nothing is configured: app/api/telemetry.py)."""
    from fastapi import FastAPI

    from benchlib.apps import bounds

    quiet = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    quiet.get("/protected")(ceiling_route)
    apps = {"ceiling": ceiling, "ceiling, FastAPI telemetry off": quiet,
            "bound-dep: + one no-op dependency": bounds.build("dep"),
            "bound-ops: + the server's request middleware": bounds.build("ops")}
    rows: dict[str, list[float]] = {label: [] for label in apps}
    for _ in range(reps):
        for label, target in apps.items():
            rows[label].append(await ac.timed(label, requests, lambda _i, t=target: ac.call(t, ac.scope("GET", "/protected", []))))
    top = statistics.median(rows["ceiling"])
    print(f"\n{'pure FastAPI bounds (bench rows bound-*)':<44} {'CPU µs/request':>16} {'ceiling ÷ this':>15}")
    for label, values in rows.items():
        med = statistics.median(values)
        print(f"{label:<44} {med:>16.1f} {top / med:>14.2f}×")


async def ceiling_route() -> dict[str, object]:
    return {"message": "Hello, bench", "user_id": 1, "session_id": "0" * 32}

def _first(app: "FastAPI", path: str, endpoint: object) -> None:
    """A GET route matched before all others (routes match in order)."""
    app.get(path)(endpoint)  # type: ignore[arg-type]
    app.router.routes.insert(0, app.router.routes.pop())


if __name__ == "__main__":
    sys.argv += [] if "--requests" in sys.argv else ["--requests", "20000"]
    options = ac.prepare()
    import uvloop

    uvloop.run(main(options.requests, options.reps))
