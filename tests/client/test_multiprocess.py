"""Two real processes, one session file, both rotating the refresh token over and over at
the same time. The file lock and the re-read make them take turns, each spending only the
newest token, so the server never sees a reuse and neither process is logged out."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from authclient import AuthClient
from tests.client.helpers import PYTHON, USERNAME, subprocess_env
from tests.support import ROOT

ROUNDS = 15


def test_two_processes_refreshing_one_session_file(short_server: str, password: str, tmp_path: Path) -> None:
    path = tmp_path / "shared-session.json"
    AuthClient(short_server, session_file=path).login(USERNAME, password)
    start_at = time.time() + 1.0  # both interpreters are up by then, so they really race
    workers = [
        subprocess.Popen(
            [PYTHON, "-m", "tests.client.share_worker", short_server, str(path), str(ROUNDS), str(start_at)],
            cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, f"worker failed: {out}\n{err}"
        results.append(json.loads(out.strip().splitlines()[-1]))
    for result in results:
        assert result == {
            "rotations": ROUNDS, "statuses": [200] * ROUNDS, "error": None, "expired": False, "valid": True,
        }
    # 2 x 15 rotations happened one after the other; the last one is in the file and works
    after = AuthClient(short_server, session_file=path)
    assert after.whoami()["username"] == USERNAME
    after.refresh()
