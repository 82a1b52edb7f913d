"""What a password brute force costs the server (issue 5's closing figures).

1,000 wrong passwords for one user from one IP, against the real app (real argon2id,
real SQLite), with the default limits (30 per 5 min per username, 300 per 5 min per IP).
Counts how many attempts reached the password hash, the CPU seconds the process spent,
and whether the real user can log in during and after the window (moved by the clock).

    .venv/bin/python bench/bruteforce.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx

from app.clock import FrozenClock
from app.db.migrate import upgrade
from app.main import create_app
from app.security import passwords
from app.settings import Settings

ATTEMPTS = 1000


async def main(settings: Settings) -> None:
    hashed = passwords.CryptPasswordHasher().hash_sync("the real password")
    from app.db.engine import make_engine
    from app.store.users import SqlUserStore

    engine = make_engine(settings)
    await SqlUserStore(engine).create("victim", hashed, "profile", FrozenClock().now())
    await engine.dispose()

    reached = 0
    original = passwords.CryptPasswordHasher.verify_and_update

    async def counting(self: passwords.CryptPasswordHasher, pw: str, h: str) -> tuple[bool, str | None]:
        nonlocal reached
        reached += 1
        return await original(self, pw, h)

    passwords.CryptPasswordHasher.verify_and_update = counting  # type: ignore[method-assign]
    clock = FrozenClock()
    app = create_app(settings, clock=clock)
    form = {"grant_type": "password", "username": "victim"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.66", 1)), base_url="http://t") as attacker, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.5", 1)), base_url="http://t") as owner:
        cpu, wall = time.process_time(), time.perf_counter()
        codes = Counter()
        for i in range(ATTEMPTS):
            r = await attacker.post("/user/oauth/token", data={**form, "password": f"guess-{i}"})
            codes[r.status_code] += 1
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        during = await owner.post("/user/oauth/token", data={**form, "password": "the real password"})
        clock.advance(timedelta(seconds=int(during.headers.get("retry-after", "0"))))
        after = await owner.post("/user/oauth/token", data={**form, "password": "the real password"})
    await app.state.services.engine.dispose()
    print(f"attempts: {ATTEMPTS}; answers: {dict(codes)}")
    print(f"attempts that reached the password hash: {reached}")
    print(f"CPU seconds for all {ATTEMPTS} attempts: {cpu:.2f} (wall {wall:.2f} s); "
          f"per limited attempt about {cpu / ATTEMPTS * 1000:.1f} ms")
    print(f"real user during the window: {during.status_code} (Retry-After {during.headers.get('retry-after')} s)")
    print(f"real user after the window: {after.status_code}")


if __name__ == "__main__":
    db = Path(tempfile.mkdtemp()) / "brute.db"
    config = Settings(database_url=f"sqlite:///{db}", jwt_secret="brute-force-secret-0123456789abcdefghijkl", _env_file=None)  # type: ignore[call-arg]
    upgrade(config.database_url)  # Alembic runs its own event loop: before ours
    asyncio.run(main(config))
