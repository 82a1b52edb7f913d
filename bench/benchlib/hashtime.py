"""The reference of the login row: one verification of the bench user's stored password
hash, with the hashing library alone, on the server core, in a plain loop. The hash is
read from the server's own database (the row `python -m app users create` wrote), so its
algorithm and cost parameters are whatever the server under test chose; a login can
never be cheaper than this.

    python -m benchlib.hashtime sqlite:///auth.db PASSWORD --warmup S --duration S --out FILE
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from collections.abc import Callable

USERNAME = "bench"  # servers.USERNAME


def verifier(stored: str) -> Callable[[str], bool]:
    """argon2 (PHC string) or bcrypt, by the hash's own prefix."""
    if stored.startswith("$argon2"):
        from argon2 import PasswordHasher

        hasher = PasswordHasher()
        return lambda password: hasher.verify(stored, password)
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        import bcrypt

        return lambda password: bcrypt.checkpw(password.encode(), stored.encode())
    raise SystemExit(f"unknown password hash format: {stored[:12]}…")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url", help="the login server's sqlite:/// database")
    p.add_argument("password")
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    with sqlite3.connect(a.url.split("///", 1)[1]) as conn:
        stored = conn.execute("SELECT password_hash FROM user_account WHERE username = ?", (USERNAME,)).fetchone()[0]
    verify = verifier(stored)
    lat: list[float] = []
    start = time.perf_counter()
    measure_from, end = start + a.warmup, start + a.warmup + a.duration
    cpu0 = None
    while (t0 := time.perf_counter()) < end:
        assert verify(a.password)
        if t0 >= measure_from:
            cpu0 = time.process_time() if cpu0 is None else cpu0
            lat.append(time.perf_counter() - t0)
    with open(a.out, "w") as f:
        json.dump({"latencies": lat, "duration": a.duration,
                   "cpu_s": time.process_time() - (cpu0 or 0.0), "db_cpu_s": 0.0}, f)


if __name__ == "__main__":
    main()
