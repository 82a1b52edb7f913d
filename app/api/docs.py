"""The interactive docs (/docs, /redoc), served with no request leaving the server.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so without internet access
/docs is a blank page. The same pages, built with FastAPI's public `get_swagger_ui_html`
and `get_redoc_html`, point here at the copies the fastapi-offline package ships
(Swagger UI 5: version 4 cannot render the OpenAPI 3.1 document FastAPI writes), served
from the package by a StaticFiles mount. ReDoc is told not to fetch Google fonts.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"  # fastapi-offline's static/: swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js
ASSETS_PACKAGE = ("fastapi_offline", "static")


def install_docs(app: FastAPI) -> None:
    """For an app built with `docs_url=None, redoc_url=None`; keeps FastAPI's OAuth2
    redirect page (`app.swagger_ui_oauth2_redirect_url`, /docs/oauth2-redirect)."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.mount(ASSETS_URL, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")
    app.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(redirect_url, oauth2_redirect, methods=["GET"], include_in_schema=False)
    app.add_api_route(REDOC_URL, redoc, methods=["GET"], include_in_schema=False)


def _root_path(request: Request) -> str:
    """Behind a proxy that strips a prefix (uvicorn --root-path), as FastAPI's pages do."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")
