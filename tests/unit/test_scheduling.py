"""The hashing threads' scheduling (app/security/scheduling.py), read back from the kernel's
own account of each thread (/proc/self/task/TID/sched)."""

from __future__ import annotations

import os
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.security import scheduling
from app.security.passwords import HASHING_NICE, CryptPasswordHasher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread scheduling is Linux's")


def _kernel() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


CUSTOM_SLICES = _kernel() >= (6, 12) and platform.machine() in scheduling._SYS_SCHED_SETATTR
needs_slices = pytest.mark.skipif(not CUSTOM_SLICES, reason="custom time slices need Linux 6.12+ on a known architecture")


def sched(tid: int) -> dict[str, int]:
    """The thread's priority (120 + nice) and time slice in ns, as the scheduler has them."""
    fields = {}
    for line in Path(f"/proc/self/task/{tid}/sched").read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("prio", "se.slice"):
            fields[name.strip()] = int(float(value))
    return fields


def in_thread(fn: Callable[[], None]) -> dict[str, int]:
    """Run `fn` in a new thread and read that thread's scheduling before it ends."""
    seen: dict[str, int] = {}

    def body() -> None:
        fn()
        seen.update(sched(threading.get_native_id()))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen


async def hashing_thread() -> dict[str, int]:
    """A real hash and verification, then the hashing thread's scheduling, read in it."""
    hasher = CryptPasswordHasher(concurrency=1)
    try:
        assert await hasher.verify("p", await hasher.hash("p"))
        return sched(await hasher._run(threading.get_native_id))
    finally:
        hasher.close()


@needs_slices
async def test_hashing_threads_take_the_longest_slice_and_the_loop_keeps_its_own() -> None:
    """So the event loop, woken on the same core, preempts a hash at once (bench/README.md,
    twelfth session: its wait for the core at wake-up, p99 91–190 µs → 63–113 µs)."""
    loop = sched(threading.get_native_id())
    hashing = await hashing_thread()
    assert hashing["se.slice"] == scheduling.LONGEST_SLICE_NS != loop["se.slice"]
    assert hashing["prio"] == max(loop["prio"], 120 + HASHING_NICE)
    assert sched(threading.get_native_id()) == loop  # the loop's thread is untouched


@needs_slices
def test_a_thread_already_nicer_keeps_its_priority() -> None:
    """Never raised: an operator's `nice -n 15` stays 15 (raising it would need privileges
    the server should not use, and undo the operator's choice)."""

    def nicer_first() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
        scheduling.yield_to_loop(10)

    seen = in_thread(nicer_first)
    assert seen == {"prio": 135, "se.slice": scheduling.LONGEST_SLICE_NS}


@pytest.mark.parametrize("calls", [{}, {platform.machine(): 99_999}], ids=["unknown architecture", "call refused"])
def test_without_custom_slices_the_priority_is_still_lowered(
    monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    """An architecture whose call number is unknown, or a kernel that refuses the call
    (here: a number no kernel has, ENOSYS, as a seccomp filter would answer EPERM), falls
    back to setpriority(2): the thread is nicer and keeps the slice it inherited."""
    monkeypatch.setattr(scheduling, "_SYS_SCHED_SETATTR", calls)
    inherited = sched(threading.get_native_id())
    seen = in_thread(lambda: scheduling.yield_to_loop(10))
    assert seen["prio"] == max(inherited["prio"], 130)
    assert seen.get("se.slice") == inherited.get("se.slice")


async def test_a_refused_look_up_never_breaks_the_hashing_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings run as the hashing pool's initializer: had it raised (here the policy
    look-up refused, as a seccomp filter may), the pool would be broken and every login
    would fail. Hashing works, and the thread is still nicer."""

    def refused(pid: int) -> int:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(scheduling.os, "sched_getscheduler", refused)
    hashing = await hashing_thread()
    assert hashing["prio"] >= 120 + HASHING_NICE
