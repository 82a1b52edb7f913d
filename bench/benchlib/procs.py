"""Server processes: start pinned, wait for readiness, read CPU time and RSS from /proc.

CPU per request is measured from the kernel's own accounting (utime + stime of the server
and of every uvicorn worker it forked), not from wall time, so a noisy neighbour on the
machine slows a run down but does not inflate its CPU per request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchlib.config import SERVER_CORE

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return text[text.rindex(")") + 2:].split()


def descendants(pid: int) -> list[int]:
    """pid and every process below it (uvicorn's supervisor forks its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """utime + stime (fields 14 and 15 of /proc/PID/stat) of each pid still alive."""
    out = {}
    for pid in pids:
        fields = _stat(pid)
        if fields:
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings by the processes alive at both (a process that exits
    in between takes its CPU time with it, which must not count as negative)."""
    return sum(after[p] - before[p] for p in after if p in before)


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


class Server:
    """One server process tree on SERVER_CORE, in its own process group so that stopping
    it ends exactly the processes it started."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path,
                 ready_path: str = "/healthz") -> None:
        self.name = name
        self.port = free_port()
        self.argv = ["taskset", "-c", SERVER_CORE, *argv, "--port", str(self.port)]
        self.env = env
        self.cwd = cwd
        self.ready_path = ready_path
        self.log = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail_log()}")
            try:
                with urllib.request.urlopen(self.base + self.ready_path, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers: that is all readiness means here
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {self.tail_log()}")

    def tail_log(self, lines: int = 3) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pids(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)

    def workers(self) -> list[int]:
        """The processes that serve requests: the forked workers, else the server itself."""
        pids = self.pids()
        return pids[1:] or pids

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
