"""The client installs on its own: a fresh virtualenv (no system site-packages) gets
`pip install ./authclient`, which brings httpx and nothing of the server, and the installed
console script logs in to the real server; `./authclient[resource]` protects another
service's routes with the server's tokens. Slow (pip fetches the dependencies):
`-m "not slow"` skips them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.client.helpers import USERNAME
from tests.support import ROOT, live_server

CHECK = """
import importlib.util, sys
import authclient
assert authclient.AuthClient and authclient.AsyncAuthClient
missing = [m for m in ("app", "fastapi", "sqlalchemy", "pydantic", "jwt") if importlib.util.find_spec(m)]
assert not missing, f"importable in the client-only venv: {missing}"
print(authclient.__file__)
"""


def _run(*args: str | Path, cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    environ.update(env or {})
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=environ, input=stdin,
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


SERVICE_MAIN = '''
from fastapi import FastAPI
from authclient.resource import AccessClaims, ResourceServer

app = FastAPI()
auth = ResourceServer(jwks_url=JWKS_URL, issuer=ISSUER, audience="authserver")
auth.install(app)


@app.get("/orders")
async def orders(claims: AccessClaims = auth.require("read")) -> dict[str, str]:
    return {"user": claims.sub, "client": claims.client_id or ""}
'''

SERVICE_CHECK = """
import asyncio, os, sys
import httpx
import app.main  # the service's own app/ package, not the token server's
assert app.main.__file__.startswith(os.getcwd()), app.main.__file__
heavy = sorted(m for m in ("sqlalchemy", "passlib", "prometheus_client", "alembic", "argon2") if m in sys.modules)
assert not heavy, f"imported by the helper: {heavy}"

async def main() -> None:
    transport = httpx.ASGITransport(app=app.main.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        ok = await http.get("/orders", headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
        assert ok.status_code == 200, ok.text
        print(ok.json()["client"])
        refused = await http.get("/orders")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer"), refused.text

asyncio.run(main())
"""


@pytest.mark.slow
def test_resource_extra_protects_a_service_with_its_own_app_package(
    database_url: str, user: object, password: str, tmp_path: Path
) -> None:
    """`pip install './authclient[resource]'` in a fresh venv; a service whose package is
    also named `app` verifies a real EdDSA token of a live server through its JWKS."""
    source = tmp_path / "src" / "authclient"
    shutil.copytree(ROOT / "authclient", source,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", f"{source}[resource]", cwd=tmp_path)
    freeze = _run(python, "-m", "pip", "freeze", cwd=tmp_path).stdout.lower()
    assert "fastapi==" in freeze and "pyjwt==" in freeze and "sqlalchemy" not in freeze

    issuer = "https://auth.example.com"  # JWT_ISSUER: any URL; the JWKS is fetched from the live server
    with live_server(database_url, JWT_ALGORITHM="EdDSA", JWT_ISSUER=issuer) as base:
        token = httpx.post(f"{base}/user/oauth/token", data={
            "grant_type": "password", "username": USERNAME, "password": password, "client_id": "orders-cli",
        }).json()["access_token"]
        project = tmp_path / "service"
        (project / "app").mkdir(parents=True)
        (project / "app" / "__init__.py").write_text('"""The service\'s own package."""\n')
        (project / "app" / "main.py").write_text(
            f"JWKS_URL = {base + '/.well-known/jwks.json'!r}\nISSUER = {issuer!r}\n" + SERVICE_MAIN)
        env_token = {"TOKEN": str(token)}
        result = _run(python, "-c", SERVICE_CHECK, cwd=project, env=env_token)
    assert result.stdout.strip() == "orders-cli"
