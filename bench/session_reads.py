"""What one read of the session cache costs (`live_many` of one session, as a miss or a
renewal does, and the revocation feed's query), through the engine (SQLAlchemy) and
through the driver path (app.store.reads), in-process, interleaved: CPU of this process
and wall time per read, medians of the reps.

    .venv/bin/python bench/session_reads.py [--reps 5] [--requests 2000]     # SQLite file
    .venv/bin/python bench/session_reads.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/DB

Idle figures: under load each wait for the event loop costs an iteration, so the
difference grows with the number of waits (app/store/reads.py).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import timedelta
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

import asgi_cost as ac


async def main(requests: int, reps: int) -> None:
    import jwt

    from app.main import create_app
    from app.store.sessions import SqlSessionStore

    app = create_app()
    async with app.router.lifespan_context(app):
        services = app.state.services
        form = urlencode({"grant_type": "password", "username": "bench", "password": "bench-password-123"}).encode()
        headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", str(len(form)).encode())]
        pair = await ac.login(app, form, headers)
        sid = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
        reads = services.session_cache._inner
        assert reads._reads is not None, "no driver path for this database (in-memory SQLite?)"
        engine = SqlSessionStore(services.engine)
        now = services.clock.now()
        since = now - timedelta(minutes=1)
        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "live_many, engine": lambda: engine.live_many([sid], now),
            "live_many, driver path": lambda: reads.live_many([sid], now),
            "revoked_since, engine": lambda: engine.revoked_since(since),
            "revoked_since, driver path": lambda: reads.revoked_since(since),
        }
        cpu: dict[str, list[float]] = {k: [] for k in cases}
        wall: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(reps):
            for label, read in cases.items():
                c0, w0 = time.process_time(), time.perf_counter()
                for _ in range(requests):
                    await read()
                cpu[label].append((time.process_time() - c0) / requests * 1e6)
                wall[label].append((time.perf_counter() - w0) / requests * 1e6)
        print(f"{services.settings.database_url.split(':')[0]}: {requests} reads per rep, medians of {reps}")
        print(f"{'read':<28} {'CPU µs':>8} {'wall µs':>8}")
        for label in cases:
            print(f"{label:<28} {statistics.median(cpu[label]):8.1f} {statistics.median(wall[label]):8.1f}")


if __name__ == "__main__":
    sys.argv += [] if "--requests" in sys.argv else ["--requests", "2000"]
    options = ac.prepare()
    import uvloop

    uvloop.run(main(options.requests, options.reps))
