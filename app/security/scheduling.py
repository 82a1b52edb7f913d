"""How the password-hashing threads share a core with the event loop (Linux; best effort).

Two settings, made by the thread itself as it starts:
- a lower priority (nice 10): while the loop has work, a hash gets ~1/10 of the core;
- the longest time slice the kernel grants (100 ms, Linux 6.12+). The fair scheduler
  (EEVDF) lets a thread that has just been given the core keep it for its slice (1.4 ms
  by default on 2 cores, enforced at the next timer tick: every 4 ms at HZ=250); a woken
  thread cuts in at once only if its own slice is the shorter (PREEMPT_SHORT). With the
  hash's slice the longer one, the event loop woken by a request takes the core at once.
  Traced with `bench/storm_sched.py` during a login storm, the loop's wait for the core
  at wake-up went from p99 91–190 µs to 63–113 µs, and /protected's p99 was lower in each
  of 6 interleaved pairs (bench/README.md, twelfth session). The hash's share of the core
  is set by its priority alone, so a login takes no longer.

Where the kernel lacks custom slices, or the call is refused (an older kernel ignores the
slice; a seccomp filter may refuse the call), the priority is still lowered with
setpriority(2); where threads have no priority of their own (not Linux), nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import threading

# sched_setattr(2) has no wrapper in Python or glibc; its number differs by architecture
# (the generic table's for the 64-bit ones that use it).
_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274, "riscv64": 274, "loongarch64": 274}
# struct sched_attr, first version: size, policy, flags, nice, priority, runtime (the
# slice, for SCHED_OTHER and SCHED_BATCH), deadline, period.
_SCHED_ATTR = struct.Struct("=IIQiIQQQ")
LONGEST_SLICE_NS = 100_000_000  # the kernel clamps a custom slice to 0.1–100 ms


def yield_to_loop(nice: int, slice_ns: int = LONGEST_SLICE_NS) -> None:
    """Lower the calling thread's priority to `nice` (never raise it) and ask for a long
    time slice, so a thread woken on the same core (the event loop) preempts it. Never
    raises: it runs as a thread pool's initializer, and an initializer that raises breaks
    the pool, which would fail every login."""
    try:
        tid = threading.get_native_id()
        nice = max(nice, os.getpriority(os.PRIO_PROCESS, tid))
    except (AttributeError, OSError):
        return
    if not _set_slice(nice, slice_ns):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:
            pass


def _set_slice(nice: int, slice_ns: int) -> bool:
    number = _SYS_SCHED_SETATTR.get(platform.machine())
    if number is None:
        return False
    try:
        policy = os.sched_getscheduler(0)  # a seccomp filter may refuse this one too
        if policy not in (os.SCHED_OTHER, os.SCHED_BATCH):
            return False  # real-time or idle: a slice means something else there, or nothing
        attr = ctypes.create_string_buffer(_SCHED_ATTR.pack(_SCHED_ATTR.size, policy, 0, nice, 0, slice_ns, 0, 0))
        return int(ctypes.CDLL(None, use_errno=True).syscall(number, 0, attr, 0)) == 0
    except (OSError, AttributeError):
        return False
