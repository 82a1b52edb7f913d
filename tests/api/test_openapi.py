"""The OpenAPI document describes every endpoint, with security schemes the docs'
Authorize button can use, and the error responses each route really gives."""

from __future__ import annotations

import httpx


async def test_openapi_lists_every_endpoint_and_scheme(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    for path, method in [
        ("/user/oauth/token", "post"), ("/login", "post"), ("/refresh", "post"), ("/user/_logout", "post"),
        ("/protected", "get"), ("/user/me", "get"), ("/healthz", "get"), ("/readyz", "get"),
    ]:
        assert method in paths[path], path
    schemes = doc["components"]["securitySchemes"]
    password_flow = next(s for s in schemes.values() if s["type"] == "oauth2")
    assert password_flow["flows"]["password"]["tokenUrl"].endswith("user/oauth/token")
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    token = paths["/user/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert {"400", "401", "429", "503"} <= set(token["responses"])
    assert {"401", "503"} <= set(paths["/protected"]["get"]["responses"])
    assert paths["/protected"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/user/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/refresh"]["post"]["security"] == [{"RefreshToken": []}]
    # every scheme an operation names is defined, so the Authorize dialog can use it
    for path, operations in paths.items():
        for method, operation in operations.items():
            for requirement in operation.get("security", []):
                assert requirement.keys() <= schemes.keys(), (path, method, requirement)


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
