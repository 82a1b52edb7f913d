"""FastAPI's OpenTelemetry instrumentation is off unless something can use it
(app/api/telemetry.py): no per-request provider lookups in a default deployment, and
FastAPI's spans as FastAPI documents them once a provider is configured."""

from __future__ import annotations

import inspect
import logging
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


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FASTAPI_OTEL_AUTO_CONFIGURE", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)


def test_off_when_nothing_is_configured_and_said_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.telemetry"):
        assert fastapi_telemetry() == {"telemetry": OFF}
    assert any("TELEMETRY=on" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_kept_when_fastapi_is_asked_to_configure_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", value)
    assert fastapi_telemetry() == {}
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # then FastAPI configures nothing
    assert fastapi_telemetry() == {"telemetry": OFF}


def test_the_setting_overrides_the_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fastapi_telemetry("on") == {}
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert fastapi_telemetry("off") == {"telemetry": OFF}


@pytest.mark.parametrize(("mode", "expected"), [("auto", 0), ("on", 3)])
async def test_requests_do_not_look_up_providers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, mode: str, expected: int
) -> None:
    """The cost it removes: FastAPI asking for the tracer provider on every request."""
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


def test_spans_when_a_provider_is_configured(tmp_path: Path) -> None:
    """A global provider is set once per process, so this runs in its own: a recording
    tracer provider set before the app is built, as `opentelemetry-instrument` does,
    sees FastAPI's server span for the request, and its dependency span on a planned
    route too."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(ROOT)!r})
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

        trace.set_tracer_provider(Provider())
        settings = Settings(database_url="sqlite+aiosqlite:///{tmp_path}/t.db",
                            jwt_secret="x" * 64, _env_file=None)

        async def main():
            app = create_app(settings)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/protected")).status_code == 401  # a planned route
            await app.state.services.aclose()

        asyncio.run(main())
        print(names)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "('GET', '/healthz')" in done.stdout, done.stdout
    # app.api.routing hands a recorded request to FastAPI's handler: its spans are there
    assert "('GET', '/protected'), ('fastapi.dependencies', None)" in done.stdout, done.stdout


def test_a_no_op_provider_counts_as_nothing_configured() -> None:
    from opentelemetry import metrics

    from app.api.telemetry import _configured

    class Configured(trace.TracerProvider):  # type: ignore[misc]
        def get_tracer(self, *args: object, **kwargs: object) -> object:
            return trace.NoOpTracer()

    assert not _configured(trace.NoOpTracerProvider())
    assert not _configured(trace.ProxyTracerProvider())
    assert not _configured(metrics.NoOpMeterProvider())
    assert _configured(Configured())
