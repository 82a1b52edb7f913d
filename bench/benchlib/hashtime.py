"""The reference of the login row: password verification alone, with the server's own
CryptContext (argon2id, the server's parameters), on the server core, in a plain loop.
A login can never be cheaper than this; the row shows what the rest of a login costs.

    python -m benchlib.hashtime --warmup S --duration S --out FILE
"""

from __future__ import annotations

import argparse
import json
import time

from app.security.passwords import make_context


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ctx = make_context()
    hashed = ctx.hash("bench-password")
    lat: list[float] = []
    start = time.perf_counter()
    measure_from, end = start + a.warmup, start + a.warmup + a.duration
    cpu0 = None
    while (t0 := time.perf_counter()) < end:
        ok, _ = ctx.verify_and_update("bench-password", hashed)  # what a login calls
        assert ok
        if t0 >= measure_from:
            cpu0 = time.process_time() if cpu0 is None else cpu0
            lat.append(time.perf_counter() - t0)
    with open(a.out, "w") as f:
        json.dump({"latencies": lat, "duration": a.duration,
                   "cpu_s": time.process_time() - (cpu0 or 0.0), "db_cpu_s": 0.0}, f)


if __name__ == "__main__":
    main()
