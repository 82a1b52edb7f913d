"""FastAPI's OpenTelemetry instrumentation, through its documented `telemetry` setting
(app/api/telemetry.py): FastAPI's own behaviour unless TELEMETRY=off, which switches it
off, per-request provider look-ups included."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

trace = pytest.importorskip("opentelemetry.trace")  # FastAPI depends on it where it has telemetry
if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
    pytest.skip("this FastAPI has no telemetry of its own", allow_module_level=True)

from app.api.telemetry import OFF, fastapi_telemetry  # noqa: E402
from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.support import ROOT  # noqa: E402


def test_only_off_changes_fastapis_defaults() -> None:
    assert fastapi_telemetry("off") == {"telemetry": OFF}
    assert fastapi_telemetry("auto") == fastapi_telemetry("on") == fastapi_telemetry() == {}


@pytest.mark.parametrize(("mode", "expected"), [("off", 0), ("auto", 3), ("on", 3)])
async def test_requests_look_up_providers_unless_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, mode: str, expected: int
) -> None:
    """What `off` saves: FastAPI asking for the tracer provider on every request."""
    app = create_app(settings.model_copy(update={"telemetry": mode}))
    lookups = 0
    real = trace.get_tracer_provider

    def counting() -> trace.TracerProvider:
        nonlocal lookups
        lookups += 1
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for _ in range(3):
            assert (await http.get("/healthz")).status_code == 200
    await app.state.services.aclose()
    assert lookups == expected


SCRIPT = """
import asyncio, sys
sys.path.insert(0, {root!r})
import httpx
from opentelemetry import trace
from app.main import create_app
from app.settings import Settings

names = []

class Tracer(trace.NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        names.append((name, (kwargs.get("attributes") or {{}}).get("url.path")))
        return super().start_span(name, *args, **kwargs)

class Provider(trace.TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return Tracer()

settings = Settings(database_url="sqlite+aiosqlite:///{db}", jwt_secret="x" * 64, telemetry={mode!r},
                    _env_file=None)

async def main():
    if {before!r}:
        trace.set_tracer_provider(Provider())  # as opentelemetry-instrument does, before the app
    app = create_app(settings)
    if not {before!r}:
        trace.set_tracer_provider(Provider())  # configured after the app was built
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/protected")).status_code == 401
    await app.state.services.aclose()

asyncio.run(main())
print(names)
"""


def spans(tmp_path: Path, mode: str, *, before: bool) -> list[tuple[str, str | None]]:
    """A global provider is set once per process, so each case runs in its own."""
    script = SCRIPT.format(root=str(ROOT), db=str(tmp_path / "t.db"), mode=mode, before=before)
    env = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    names: list[tuple[str, str | None]] = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    return names


@pytest.mark.parametrize("before", [True, False], ids=["provider-before-start", "provider-after-start"])
def test_fastapis_spans_when_a_provider_is_configured(tmp_path: Path, before: bool) -> None:
    names = spans(tmp_path, "auto", before=before)
    assert ("GET", "/healthz") in names and ("GET", "/protected") in names, names


def test_no_spans_when_off(tmp_path: Path) -> None:
    assert spans(tmp_path, "off", before=True) == []
