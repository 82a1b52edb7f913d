"""The builds of the server a run measures (`Subject`): the bench venv's own install for
`python -m benchlib`, or one venv per git revision for ab.py.

A revision is checked out in a temporary git worktree and installed (not editable) into a
venv of its own under bench/.venv/ab/<commit>, kept for the next A/B run of the same
commit. Its dependencies are pinned to the bench venv's versions where they fit, so both
builds and the reference apps run on the same FastAPI, uvicorn and drivers.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent


@dataclass(frozen=True)
class Subject:
    name: str  # "" in a plain run; "base" / "head" in ab.py
    python: str  # a Python whose environment has the server installed
    commit: str

    def key(self, key: str) -> str:
        return f"{key}@{self.name}" if self.name else key


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def installed() -> Subject:
    return Subject("", sys.executable, "")


def build(name: str, revision: str) -> Subject:
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}")
    venv = BENCH / ".venv" / "ab" / commit
    python = venv / "bin" / "python"
    if not (venv / ".ok").exists():
        print(f"building {name} = {revision} ({commit[:10]}) into {venv}", flush=True)
        with tempfile.TemporaryDirectory(prefix="authbench-src-") as tmp:
            src = Path(tmp) / "src"
            git("worktree", "add", "--detach", str(src), commit)
            try:
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
                _install(python, src, Path(tmp) / "constraints.txt")
            finally:
                git("worktree", "remove", "--force", str(src))
        (venv / ".ok").touch()
    return Subject(name, str(python), commit[:10])


def _install(python: Path, src: Path, constraints: Path) -> None:
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout
    constraints.write_text("".join(line + "\n" for line in frozen.splitlines()
                                   if "==" in line and not line.startswith("authserver")))
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-c", str(constraints), str(src)], capture_output=True, text=True)
    if done.returncode:  # the revision needs other versions than the bench venv has
        print("  the bench venv's versions do not fit this revision: installing its own", flush=True)
        subprocess.run([*pip, str(src)], check=True)
