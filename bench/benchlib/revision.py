"""The server's `app/` as of a git revision, for side-by-side runs against the working
tree (`ab_refresh.py`, `rotator_cost.py`): put the returned folder first on PYTHONPATH
and `python -m app` imports that revision's code."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def app_at(revision: str, parent: Path | None = None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="app-at-", dir=parent))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "app"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder
