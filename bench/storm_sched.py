"""What the event loop waits for during a login storm, from the kernel's scheduler events:
our server (one worker, pinned to the server core as the harness runs it) under the storm
row's load (50 clients running password grants, the paced /protected probe), with the
`sched_waking` / `sched_switch` tracepoints recorded for a few seconds (every core: a
request's wake-up is recorded on wrk's).

It prints how long the event loop's thread waited for its core, when woken (a request
came in) and when switched out while it still had work, and which threads held the core
meanwhile: the part of a probe's latency that is the scheduler's, not Python's. With
`--saturated`, it times single logins while /protected keeps the core busy instead: what
the hashing threads' scheduling costs a login. Needs root and tracefs (mounted here if it
is not). The twelfth session's section of bench/README.md has its figures.

    bench/.venv/bin/python bench/storm_sched.py [--seconds 4] [--idle | --saturated]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import servers, wrk  # noqa: E402
from benchlib.config import (  # noqa: E402
    SERVER_CORE,
    STORM_LOGIN_CONNECTIONS,
    STORM_PROBE_CONNECTIONS,
    STORM_PROBE_DELAY_MS,
)
from benchlib.procs import Server  # noqa: E402

TRACEFS = Path("/sys/kernel/tracing")
EVENT = re.compile(r"\[(\d+)\].*\s(\d+\.\d+): (sched_waking|sched_switch): (.*)$")
FIELD = re.compile(r"(\w+)=(\S+)")


def tracing(on: bool) -> None:
    """On: a clean buffer, both events, every core. Off: stopped, the events disabled
    again (the buffer stays, to be read)."""
    if not (TRACEFS / "trace").exists():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)], check=True)
    (TRACEFS / "tracing_on").write_text("0")
    if on:
        (TRACEFS / "trace").write_text("")
        (TRACEFS / "buffer_size_kb").write_text("65536")
        (TRACEFS / "tracing_cpumask").write_text(f"{(1 << (os.cpu_count() or 1)) - 1:x}")
    for event in ("sched_waking", "sched_switch"):
        (TRACEFS / "events" / "sched" / event / "enable").write_text("1" if on else "0")
    if on:
        (TRACEFS / "tracing_on").write_text("1")


def thread_roles(pid: int) -> dict[int, str]:
    """Every thread of the worker is called `python`: name them by role. The loop runs in
    the main thread; the hashing threads are the ones at a lower priority."""
    roles = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = sched_fields(task / "sched")
        if int(task.name) == pid:
            roles[pid] = "loop"
        elif fields.get("prio", 120) > 120:
            roles[int(task.name)] = f"hashing (nice {fields['prio'] - 120}, slice {fields.get('se.slice', 0) / 1e6:g} ms)"
        else:
            roles[int(task.name)] = "other thread of ours"
    return roles


def sched_fields(path: Path) -> dict[str, int]:
    fields = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("prio", "se.slice"):
            fields[name.strip()] = int(float(value))
    return fields


def analyse(lines: list[str], loop_tid: int, roles: dict[int, str], cpu: int) -> None:
    """Two ways the loop waits for its core: woken (a request came in) and not yet running,
    or switched out while it still had work (preempted at a timer tick)."""
    woke: float | None = None  # the loop was woken and has not run since
    preempted: float | None = None  # the loop was switched out runnable
    waits: list[float] = []
    preemptions: list[float] = []
    held: dict[str, float] = defaultdict(float)  # who ran on the core while the loop waited, µs
    oncore: dict[str, float] = defaultdict(float)
    running: tuple[int, float] | None = None  # (tid, since) on the server's core
    for line in lines:
        m = EVENT.search(line)
        if not m:
            continue
        ts, event, fields = float(m.group(2)), m.group(3), dict(FIELD.findall(m.group(4)))
        if event == "sched_waking":
            if int(fields["pid"]) == loop_tid and woke is None and preempted is None:
                woke = ts
            continue
        if int(m.group(1)) != cpu:
            continue
        prev, nxt = int(fields["prev_pid"]), int(fields["next_pid"])
        if running is not None:
            oncore[role(prev, roles)] += (ts - running[1]) * 1e6
            if woke is not None or preempted is not None:
                held[role(prev, roles)] += (ts - max(running[1], woke or preempted or 0)) * 1e6
        if nxt == loop_tid:
            if woke is not None:
                waits.append((ts - woke) * 1e6)
            if preempted is not None:
                preemptions.append((ts - preempted) * 1e6)
            woke = preempted = None
        if prev == loop_tid and fields["prev_state"].startswith("R"):
            preempted = ts
        running = (nxt, ts)
    if not waits:
        print("no wake-ups of the loop thread recorded")
        return
    print(f"loop woken: {summary(waits)}")
    if preemptions:
        long = [x for x in preemptions if x >= 500]
        print(f"loop preempted while it had work: {summary(preemptions)}; "
              f"{len(long)} of them ≥ 0.5 ms, {sum(long) / 1000:.1f} ms in all")
    print("core time (ms):", ", ".join(f"{k} {v / 1000:.0f}" for k, v in most_first(oncore)))
    print("who held the core while the loop waited (ms):",
          ", ".join(f"{k} {v / 1000:.1f}" for k, v in most_first(held)))


def most_first(totals: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(totals.items(), key=lambda kv: -kv[1])


def summary(us: list[float]) -> str:
    us = sorted(us)
    q = statistics.quantiles(us, n=100)
    return (f"{len(us)} times, waited for the core p50 {q[49]:.0f} µs, p90 {q[89]:.0f} µs, "
            f"p99 {q[98]:.0f} µs, max {us[-1]:.0f} µs, {sum(us) / 1000:.1f} ms in all")


def role(tid: int, roles: dict[int, str]) -> str:
    return "idle" if tid == 0 else roles.get(tid, "other process")


def one_login_saturated(server: Server, token: str, logins: int = 3) -> str:
    """Seconds per password grant, one after another, while /protected keeps the server's
    core busy: what the hashing thread's scheduling costs a login on a busy server."""
    work = Path(tempfile.mkdtemp(prefix="storm-sched-saturated-"))
    script = wrk.write_script(work / "plain.lua")
    load = wrk.start(server.base + "/protected", seconds=4 + 3 * logins,
                     connections=32, script=script, headers={"Authorization": f"Bearer {token}"})
    try:
        time.sleep(2)
        took = []
        for _ in range(logins):
            start = time.perf_counter()
            servers.login(server)
            took.append(time.perf_counter() - start)
    finally:
        served = wrk.finish(load)
    return ", ".join(f"{t:.2f} s" for t in took) + f" (/protected {served.rps:.0f} req/s)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--idle", action="store_true", help="the probe alone, no storm")
    parser.add_argument("--saturated", action="store_true",
                        help="instead: one login at a time while 32 connections saturate /protected")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="storm-sched-"))
    server = servers.ours("storm-sched", work, f"sqlite:///{work}/auth.db")
    server.start()
    storm = None
    try:
        token = servers.access_token(server)
        logins = wrk.form_post_script(work / "login.lua", servers.LOGIN_BODY)
        probe = wrk.write_script(work / "probe.lua", wrk.DELAY_LUA % {"ms": STORM_PROBE_DELAY_MS})
        if args.saturated:
            print("one login while /protected saturates the core:", one_login_saturated(server, token))
            return
        if not args.idle:
            storm = wrk.start(server.base + "/user/oauth/token", seconds=args.seconds + 8,
                              connections=STORM_LOGIN_CONNECTIONS, script=logins, timeout_s=30)
            time.sleep(3)
        pids = server.pids()
        probing = wrk.start(server.base + "/protected", seconds=args.seconds + 2,
                            connections=STORM_PROBE_CONNECTIONS, script=probe,
                            headers={"Authorization": f"Bearer {token}"})
        time.sleep(1)
        try:
            tracing(True)
            time.sleep(args.seconds)
        finally:
            tracing(False)
        loop_tid = max(pids)  # the worker process: its main thread runs the loop
        roles = thread_roles(loop_tid)
        result = wrk.finish(probing)
        if storm is not None:
            wrk.finish(storm)
    finally:
        server.stop()
    lines = (TRACEFS / "trace").read_text().splitlines()
    print(f"probe /protected: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms "
          f"({'idle' if args.idle else 'storm'}); {len(lines)} trace lines")
    analyse(lines, loop_tid, roles, int(SERVER_CORE))


if __name__ == "__main__":
    main()
