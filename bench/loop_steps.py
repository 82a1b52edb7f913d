"""Where the event loop's time goes during a login storm, step by step: our server on
the standard asyncio loop (uvloop's steps cannot be timed from Python) with every loop
callback timed, while 50 clients run password grants and the harness's paced probe reads
/protected. A task's step runs from one await to the next; each is named by where its
coroutine resumed and where it stopped next, so a login's share of the loop reads as a
list of steps. What a /protected request waits behind during a storm is the step running
when it arrives (bench/README.md, eleventh session).

    bench/.venv/bin/python bench/loop_steps.py [--rate-limits] [--seconds 10]

Prints the probe's p50/p99, logins per second, and per step name: count, mean, p50,
p99 and max in ms (wall time, so a step preempted by the hashing thread counts the
preemption). Diagnostic only: the timing roughly doubles a short step's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def serve(port: int, out: Path) -> None:
    """In the server process: time every callback of the loop, write the table at exit."""
    import asyncio.events

    import uvicorn

    steps: dict[str, list[float]] = collections.defaultdict(list)
    run, clock = asyncio.events.Handle._run, time.perf_counter

    def where(coro: Any) -> str | None:
        last = None
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                last = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        return last

    def timed(handle: asyncio.Handle) -> None:
        task = getattr(handle._callback, "__self__", None)  # type: ignore[attr-defined]
        coro = task.get_coro() if isinstance(task, asyncio.Task) else None
        before = where(coro) if coro is not None else None
        started = clock()
        run(handle)
        spent = clock() - started
        name = (f"{coro.__qualname__}: {before} -> {where(coro)}" if coro is not None
                else getattr(handle._callback, "__qualname__", "callback"))  # type: ignore[attr-defined]
        steps[name].append(spent)

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def write(*_: object) -> None:
        rows = []
        for name, spent in steps.items():
            spent.sort()
            n = len(spent)
            rows.append([name, n, sum(spent) / n * 1e3, spent[n // 2] * 1e3, spent[int(n * 0.99)] * 1e3, spent[-1] * 1e3])
        out.write_text(json.dumps(rows))

    import atexit
    atexit.register(write)
    uvicorn.run("app.main:create_app", factory=True, host="127.0.0.1", port=port, loop="asyncio",
                http="httptools", access_log=False)


def main() -> None:
    from benchlib import servers, wrk
    from benchlib.config import LOAD_CORE, SERVER_CORE, STORM_LOGIN_CONNECTIONS, STORM_PROBE_CONNECTIONS, STORM_PROBE_DELAY_MS
    from benchlib.procs import free_port

    parser = argparse.ArgumentParser()
    parser.add_argument("--rate-limits", action="store_true",
                        help="rate limits on (the server's default), with limits no storm reaches")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loop-steps-"))
    env = servers.server_env(f"sqlite:///{work}/auth.db")
    if args.rate_limits:
        env.update(RATE_LIMIT_ENABLED="true", LOGIN_ATTEMPTS_PER_USERNAME="1000000000",
                   LOGIN_ATTEMPTS_PER_IP="1000000000")
    servers.prepare_database(env, work)
    port, out = free_port(), work / "steps.json"
    server = subprocess.Popen(["taskset", "-c", SERVER_CORE, servers.PY, __file__, "--serve", str(port), str(out)],
                              env=env, cwd=work)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                servers.get_json(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        target = type("Target", (), {"base": base})
        token = servers.access_token(target)  # type: ignore[arg-type]
        logins = wrk.form_post_script(work / "login.lua", servers.LOGIN_BODY)
        probe = wrk.write_script(work / "probe.lua", wrk.DELAY_LUA % {"ms": STORM_PROBE_DELAY_MS})
        storm = wrk.start(base + "/user/oauth/token", seconds=args.seconds + 6,
                          connections=STORM_LOGIN_CONNECTIONS, script=logins, timeout_s=30)
        time.sleep(3)
        result = wrk.run(base + "/protected", seconds=args.seconds, connections=STORM_PROBE_CONNECTIONS,
                         script=probe, headers={"Authorization": f"Bearer {token}"})
        stormed = wrk.finish(storm)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    print(f"wrk on core {LOAD_CORE}, server on core {SERVER_CORE}; rate limits {'on' if args.rate_limits else 'off'}")
    print(f"probe /protected: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms; logins {stormed.rps:.1f}/s")
    rows = sorted(json.loads(out.read_text()), key=lambda r: -r[1] * r[2])
    print(f"{'count':>6} {'mean':>7} {'p50':>7} {'p99':>7} {'max':>8}  step (ms)")
    for name, n, mean, p50, p99, most in rows[:16]:
        print(f"{n:6d} {mean:7.3f} {p50:7.3f} {p99:7.3f} {most:8.2f}  {name}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
