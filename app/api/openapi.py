"""Additions to the generated OpenAPI document: the scopes the server advertises (so the
docs' Authorize dialog offers them), the HTTP Basic scheme clients authenticate with, and
the bearer schemes of the routes that declare them with `openapi_extra` (FastAPI lists
in `components` only the schemes some route's dependencies use).

FastAPI's HTTPBasic dependency is not used for the latter: it answers a malformed header
with its own 401 body instead of RFC 6749's invalid_client, so the header is parsed in
app.api.params and the scheme is only declared here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.security.base import SecurityBase

from app.api.deps import access_token_required, refresh_scheme

CLIENT_BASIC = "ClientSecretBasic"


def install_openapi_additions(app: FastAPI, scopes: list[str]) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        for declared in (access_token_required, refresh_scheme):
            schemes.setdefault(declared.scheme_name, _definition(declared))
        for scheme in schemes.values():
            for flow in scheme.get("flows", {}).values() if scheme.get("type") == "oauth2" else ():
                flow["scopes"] = {**{s: f"The {s} scope." for s in scopes}, **flow.get("scopes", {})}
        schemes[CLIENT_BASIC] = {
            "type": "http", "scheme": "basic",
            "description": "A registered client's id and secret (RFC 6749 §2.3.1).",
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _definition(scheme: SecurityBase) -> dict[str, Any]:
    """The scheme's entry, as FastAPI writes it for a dependency."""
    return scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
