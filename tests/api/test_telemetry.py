"""FastAPI's OpenTelemetry instrumentation is off unless something can use it
(app/api/telemetry.py): no per-request provider lookups in a default deployment, and
FastAPI's spans as FastAPI documents them once a provider is configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import pytest
from opentelemetry import trace

from app.api.telemetry import OFF, fastapi_telemetry
from app.main import create_app
from app.settings import Settings
from tests.support import ROOT


def test_off_when_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    assert fastapi_telemetry() == {"telemetry": OFF}


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_kept_when_fastapi_is_asked_to_configure_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", value)
    assert fastapi_telemetry() == {}


async def test_requests_do_not_look_up_providers(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost it removes: FastAPI asking for the tracer provider on every request."""
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    app = create_app(settings)
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
    assert lookups == 0


def test_spans_when_a_provider_is_configured(tmp_path: object) -> None:
    """A global provider is set once per process, so this runs in its own: a recording
    tracer provider set before the app is built, as `opentelemetry-instrument` does,
    sees FastAPI's server span for the request."""
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
            await app.state.services.aclose()

        asyncio.run(main())
        print(names)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "('GET', '/healthz')" in done.stdout, done.stdout


def test_a_no_op_provider_counts_as_nothing_configured() -> None:
    from app.api.telemetry import _configured

    class Recording(trace.TracerProvider):
        def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
            return trace.NoOpTracer()

    assert not _configured(trace.NoOpTracerProvider())
    assert not _configured(trace.ProxyTracerProvider())
    assert _configured(Recording())
