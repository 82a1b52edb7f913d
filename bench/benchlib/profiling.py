"""Where the time goes: py-spy samples a real server (one worker, pinned) under wrk load
and the collapsed stacks are summarised three ways:

- by component (the package of the innermost frame: our app, SQLAlchemy, Starlette, ...),
- by our code: each sample charged to the innermost frame inside app/ (so "app.store.
  sessions: live" includes the SQLAlchemy work it asked for),
- the heaviest functions inclusive (excluding the near-100 % event-loop spine).

py-spy runs on the load core with --nonblocking, so it neither pauses the server nor
takes CPU from it.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import wrk
from benchlib.config import LOAD_CORE
from benchlib.procs import CLK_TCK, Server

SPINE = {"<frozen runpy>", "app/__main__.py", "app/cli.py", "uvicorn/main.py", "uvicorn/server.py",
         "uvicorn/_compat.py", "asyncio/runners.py", "asyncio/base_events.py", "asyncio/events.py",
         "uvloop/__init__.py"}
FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^()]*)\)$")


def record(server: Server, path: str, script: Callable[[], Path], out: Path, seconds: int,
           connections: int, headers: dict[str, str] | None = None) -> tuple[Path, dict[str, float]]:
    """script is called before each wrk run (a refresh script must not replay tokens)."""
    url = server.base + path
    wrk.run(url, seconds=2, connections=connections, script=script(), headers=headers)  # warm up
    load = wrk.start(url, seconds=seconds + 3, connections=connections, script=script(), headers=headers,
                     timeout_s=30)
    time.sleep(1)
    pid = server.workers()[0]
    before = thread_cpu(pid)
    subprocess.run(["taskset", "-c", LOAD_CORE, "py-spy", "record", "-p", str(pid), "-d", str(seconds),
                    "-r", "200", "--nolineno", "--nonblocking", "-f", "raw", "-o", str(out)],
                   check=True, capture_output=True)
    after = thread_cpu(pid)
    wrk.finish(load)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    total = sum(used.values()) or 1
    main = used.get(pid, 0.0)
    split = {"event loop (main thread)": main / total * 100, "other threads": (total - main) / total * 100}
    return out, split


def component(path: str) -> str:
    """py-spy prints paths relative to their sys.path entry: the first segment is the
    package (or the stdlib module); app/ is ours."""
    if path.startswith("app/"):
        return "app (ours): " + path[4:].removesuffix(".py")
    head = path.split("/", 1)[0].removesuffix(".py")
    return head or "?"


def parse(raw: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for f in stack.split(";"):
            m = FRAME.match(f)
            frames.append((m["func"], m["path"]) if m else (f, ""))
        stacks.append((frames, int(count)))
    return stacks


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of pid: exact, unlike sampling, for the split between the
    event loop (the main thread) and worker threads (aiosqlite connections, hashing)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


# Costs worth naming on their own: share of event-loop samples with such a frame anywhere.
NAMED = [
    ("SQLAlchemy pool pre-ping (one extra round trip per checkout)", lambda fn, p: "ping" in fn.lower()),
    ("SQLAlchemy statement cache: cache keys + compiled-cache lookup",
     lambda fn, p: p.startswith("sqlalchemy/sql/cache_key") or fn.endswith("_compile_w_cache")),
    ("pool checkout and return", lambda fn, p: fn in ("_ConnectionFairy._checkout", "_ConnectionFairy._checkin")),
    ("our BEGIN hook on SQLite (app/db/engine.py _on_begin)", lambda fn, p: "_on_begin" in fn),
    ("aiosqlite thread hand-off (Connection._execute)", lambda fn, p: p == "aiosqlite/core.py" and fn == "Connection._execute"),
    ("PyJWT (encode/decode)", lambda fn, p: p.startswith("jwt/")),
    ("FastAPI dependency solving (incl. our dependencies)", lambda fn, p: fn == "solve_dependencies"),
    ("response model validation/serialisation", lambda fn, p: fn in ("serialize_response", "_prepare_response_content")),
]
WAITS = {"_connection_worker_thread", "Condition.wait", "Queue.get", "SimpleQueue.get", "Event.wait"}


def summarise(raw: Path, split: dict[str, float], title: str, top: int = 12) -> str:
    """Tables over event-loop samples, plus worker-thread work. py-spy cannot tell a
    thread blocked in C (aiosqlite's queue wait, a lock) from a running one, so worker
    samples ending in a wait are dropped and the CPU split comes from /proc instead."""
    stacks = parse(raw)
    by_component: collections.Counter[str] = collections.Counter()
    by_ours: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    workers: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        if frames[0][0] == "Thread._bootstrap":
            if frames[-1][0] not in WAITS:
                workers[f"{frames[-1][0]} ({frames[-1][1]})"] += count
            continue
        by_component[component(frames[-1][1])] += count
        ours = [f for f in frames if f[1].startswith("app/") and f[1] not in SPINE]
        if frames[-1][1] in SPINE:  # uvloop's C loop has no Python frame of its own
            key = "(uvloop's C loop: socket I/O, HTTP parsing, callbacks, or waiting in epoll)"
        elif ours and ours[-1][1] == "app/api/limits.py":  # our pass-through ASGI middleware
            key = "(framework below our middleware: routing, dependencies, response rendering)"
        elif ours:
            key = f"{ours[-1][0]} ({ours[-1][1]})"
        elif frames[0][1] == "<frozen runpy>":
            key = "(outside app/: uvicorn, starlette, fastapi, asyncio)"
        else:  # py-spy lost the awaiting frames above a resumed coroutine
            key = f"(stack cut short by py-spy, starting in {component(frames[0][1])})"
        by_ours[key] += count
        for name in {f"{func} ({path})" for func, path in frames if path not in SPINE}:
            inclusive[name] += count

    def table(counter: collections.Counter[str], head: str, rows: int = top, total: int = 0) -> list[str]:
        total = total or sum(counter.values()) or 1
        lines = [f"| {head} | % |", "|---|---:|"]
        return lines + [f"| {k} | {v / total * 100:.1f} |" for k, v in counter.most_common(rows)]

    cpu = ", ".join(f"{k} {v:.0f} %" for k, v in split.items())
    out = [f"### {title}", "", f"Server CPU by thread, from /proc during the recording: **{cpu}**. "
           f"{sum(by_component.values()):,} event-loop samples at 200 Hz; the tables give % of them.", ""]
    out += table(by_component, "event loop: component of the innermost frame") + [""]
    out += table(by_ours, "event loop: innermost app/ frame (with what it calls)") + [""]
    out += table(inclusive, "event loop: function, inclusive (start-up spine left out)", 2 * top,
                 sum(by_component.values())) + [""]
    loop = [(f, n) for f, n in stacks if f[0][0] != "Thread._bootstrap"]
    named = collections.Counter({name: sum(n for f, n in loop if any(pred(fn, p) for fn, p in f))
                                 for name, pred in NAMED})
    named = collections.Counter({k: v for k, v in named.items() if v})
    out += table(named, "event loop: named costs (any frame of the kind in the stack)", len(NAMED),
                 sum(by_component.values())) + [""]
    if sum(workers.values()) > 0.05 * sum(by_component.values()):
        out += table(workers, "worker threads: innermost frame, waits left out", 6) + [""]
    return "\n".join(out)
