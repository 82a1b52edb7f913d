"""The hot paths find the Services as a plain attribute of our app; an app wired
otherwise (a plain FastAPI with `app.state.services`, as the docs describe) still works,
for the dependencies and for the client address alike."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request

from app.api.params import client_ip
from app.api.services import ServerApp, services_of


def request_to(app: Any) -> Request:
    return Request({"type": "http", "app": app, "headers": [], "client": ("203.0.113.9", 5000)})


def test_our_app_answers_from_its_attribute_and_other_apps_from_state() -> None:
    ours, theirs = SimpleNamespace(settings=SimpleNamespace(proxy_networks=())), object()
    server = ServerApp()
    server.services = ours  # type: ignore[assignment]
    server.state.services = theirs
    assert services_of(request_to(server)) is ours
    server.services = None
    assert services_of(request_to(server)) is theirs  # created but not wired: state
    plain = FastAPI()
    plain.state.services = ours
    assert services_of(request_to(plain)) is ours
    assert client_ip(request_to(plain)) == "203.0.113.9"
