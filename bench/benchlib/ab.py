"""What the A/B scripts share (`ab_refresh.py`, `ab_login.py`, `ab_protected.py`): the
command line (a git revision, reps), a scratch folder with that revision's `app/`, and
our server started from either state of the code."""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchlib import servers
from benchlib.config import QUICK, Mode
from benchlib.procs import Server
from benchlib.revision import app_at


@dataclasses.dataclass
class AB:
    """`with ab_setup(...) as ab:` — the servers it started are stopped on the way out."""

    revision: str
    work: Path
    old_tree: Path
    mode: Mode
    args: argparse.Namespace
    started: list[Server] = dataclasses.field(default_factory=list)

    def server(self, key: str, variant: str, *, workers: int = 1) -> Server:
        """Our server, migrated, with the bench user, started: `variant` is the revision
        (its `app/` first on PYTHONPATH) or "tree" (the working tree's)."""
        env = servers.server_env(f"sqlite:///{self.work / key}.db")
        if variant != "tree":
            env["PYTHONPATH"] = str(self.old_tree)  # `python -m app` imports this app/ first
        servers.prepare_database(env, self.work / key)
        server = Server(key, [servers.PY, "-m", "app", "serve", "--host", "127.0.0.1", "--workers", str(workers)],
                        env, self.work / key)
        server.start()
        self.started.append(server)
        return server

    def __enter__(self) -> AB:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.started:
            server.stop()


def ab_setup(name: str, *, reps: int, duration: int,
             options: Callable[[argparse.ArgumentParser], object] | None = None) -> AB:
    """`options` adds a script's own arguments; they come back in `AB.args`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("revision", help="the other state of app/, e.g. HEAD~1")
    parser.add_argument("--reps", type=int, default=reps)
    if options is not None:
        options(parser)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix=f"ab-{name}-"))
    mode = dataclasses.replace(QUICK, name="ab", reps=args.reps, duration=duration)
    return AB(args.revision, work, app_at(args.revision, work), mode, args)
