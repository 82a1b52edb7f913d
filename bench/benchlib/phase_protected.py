"""Rows `ceiling`, `bound` (what the ceiling reaches with the least a route of ours must
add: apps/bounds.py), `protected` (one per signing algorithm the server accepts) and `peers`.

All servers of this group run at once (idle ones cost nothing) so the repeats can be
interleaved; all use SQLite, the default backend, one worker each.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from benchlib import servers, wrk
from benchlib.config import PROTECTED_CONNECTIONS, Mode
from benchlib.procs import Server
from benchlib.runner import Config, Recorder, RowSpec, interleave, wrk_measure

CANDIDATES = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]
BOUNDS = [("bound-dep", "dep", "bare FastAPI route + one no-op dependency (upper bound, apps/bounds.py)"),
          ("bound-ops", "ops", "... + the server's request log line, metrics and request id (upper bound)")]
PEERS = [("authx", "authx_app", "AuthX `access_token_required`"),
         ("fastapi-users", "fastapi_users_app", "fastapi-users JWT `current_user`")]


def accepted_algorithms() -> tuple[list[str], list[str]]:
    """The JWT_ALGORITHM values the installed server's Settings accepts, asked at run time
    so the harness benches new algorithms as soon as they land. An algorithm refused only
    for a missing key setting is still returned: the server start will tell."""
    from pydantic import ValidationError

    from app.settings import Settings

    ok, refused = [], []
    saved = {k: os.environ.get(k) for k in ("JWT_ALGORITHM", "DATABASE_URL", "APP_ENV")}
    try:
        for alg in CANDIDATES:  # through the environment, exactly as the server reads it
            os.environ.update(JWT_ALGORITHM=alg, DATABASE_URL="sqlite:///bench.db", APP_ENV="development")
            try:
                Settings(_env_file=None)  # type: ignore[call-arg]
                ok.append(alg)
            except ValidationError as exc:
                on_alg = all(str(e.get("loc", ("",))[0]).lower() == "jwt_algorithm" for e in exc.errors())
                (refused if on_alg else ok).append(alg)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return ok, refused


def setup(work: Path, rec: Recorder) -> tuple[list[Server], list[Config]]:
    plain = wrk.write_script(work / "plain.lua")
    started: list[Server] = []
    configs: list[Config] = []

    def add(key: str, make: Callable[[], Server], token_fn: Callable[[Server], str] | None) -> bool:
        """A server that cannot start (e.g. an algorithm that needs a key setting) is
        reported in the notes and left out; the others still run."""
        server: Server | None = None
        try:
            server = make()
            server.start()
            token = token_fn(server) if token_fn else None
        except Exception as exc:
            if server is not None:
                server.stop()
            rec.note(f"{key}: could not be benchmarked ({exc})")
            return False
        started.append(server)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        configs.append(Config(key, wrk_measure(server, "/protected", lambda: plain,
                                               connections=PROTECTED_CONNECTIONS, headers=headers)))
        return True

    add("ceiling", lambda: servers.peer("ceiling", "ceiling", work / "ceiling"), None)
    rec.spec(RowSpec("ceiling", "ceiling", "bare FastAPI route, small JSON"))
    for key, variant, label in BOUNDS:
        if add(key, lambda key=key, variant=variant: servers.peer(key, "bounds", work / key, env={"BENCH_BOUND": variant}),
               None):
            rec.spec(RowSpec(key, "bound", label, "ceiling", "rps"))
    algs, refused = accepted_algorithms()
    rec.note(f"JWT_ALGORITHM values accepted by the server: {', '.join(algs)}"
             f" (refused: {', '.join(refused) or 'none'})")
    for alg in algs:
        key = f"protected-{alg}"
        d = work / key
        make = lambda d=d, key=key, alg=alg: servers.ours(key, d, f"sqlite:///{d}/auth.db", algorithm=alg)  # noqa: E731
        if add(key, make, servers.access_token):
            rec.spec(RowSpec(key, "protected", f"our /protected, {alg}, SQLite", "ceiling", "rps", 0.90))
    for name, module, label in PEERS:
        if add(name, lambda name=name, module=module: servers.peer(name, module, work / name),
               servers.peer_token):
            rec.spec(RowSpec(name, "peers", label, "ceiling", "rps"))
    if "protected-HS256" in [c.key for c in configs] and "bound-ops" in [c.key for c in configs]:
        rec.spec(RowSpec("protected-HS256", "protected", "our /protected, HS256, vs bound-ops", "bound-ops", "rps"))
    if "protected-HS256" in [c.key for c in configs] and "authx" in [c.key for c in configs]:
        rec.spec(RowSpec("protected-HS256", "protected", "our /protected, HS256, vs AuthX", "authx",
                         "rps", 2.0, note="target: at least 2x AuthX"))
    return started, configs


def bench(work: Path, mode: Mode, rec: Recorder) -> None:
    started, configs = setup(work, rec)
    try:
        interleave(configs, mode, rec)
    finally:
        for server in started:
            server.stop()
