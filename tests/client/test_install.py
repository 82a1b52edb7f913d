"""The client installs on its own: a fresh virtualenv (no system site-packages) gets
`pip install ./authclient`, which brings httpx and nothing of the server, and the installed
console script logs in to the real server. Slow (pip fetches httpx): `-m "not slow"` skips it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.helpers import USERNAME
from tests.support import ROOT

CHECK = """
import importlib.util, sys
import authclient
assert authclient.AuthClient and authclient.AsyncAuthClient
missing = [m for m in ("app", "fastapi", "sqlalchemy", "pydantic", "jwt") if importlib.util.find_spec(m)]
assert not missing, f"importable in the client-only venv: {missing}"
print(authclient.__file__)
"""


def _run(*args: str | Path, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, input=stdin,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_installs_alone_in_a_fresh_venv_with_only_httpx(server: str, password: str, tmp_path: Path) -> None:
    # a copy, so the build's egg-info and build/ folders never land in the checkout
    source = tmp_path / "src" / "authclient"
    shutil.copytree(ROOT / "authclient", source,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python, bindir = venv / "bin" / "python", venv / "bin"
    _run(python, "-m", "pip", "install", "--quiet", source, cwd=tmp_path)

    installed = _run(python, "-c", CHECK, cwd=tmp_path).stdout.strip()
    assert installed.startswith(str(venv)), installed  # the venv's copy, not the checkout's
    freeze = _run(python, "-m", "pip", "freeze", cwd=tmp_path).stdout.lower()
    assert "httpx==" in freeze and "fastapi" not in freeze and "sqlalchemy" not in freeze

    session = tmp_path / "session.json"
    _run(bindir / "authclient", "login", USERNAME, "--password-stdin", "--server", server,
         "--session-file", session, cwd=tmp_path, stdin=password)
    whoami = _run(python, "-m", "authclient", "whoami", "--session-file", session, cwd=tmp_path)
    assert whoami.stdout.startswith(f"{USERNAME} (id ")
