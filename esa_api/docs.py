"""The API's Swagger UI at /api/docs, with its JavaScript and CSS served by this app instead of a CDN."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/api/docs"
STATIC_URL = "/api/docs/static"
# swagger-ui-dist's bundle and stylesheet, shipped inside the fastapi-offline wheel (see pyproject.toml)
SWAGGER_UI_DIR = Path(str(files("fastapi_offline") / "static"))
FAVICON_URL = "/favicon.ico"  # the ESA icon, served from assets/ by the dashboard the API is mounted into


def install(app: FastAPI) -> None:
    """Serve Swagger UI at /api/docs for `app`'s OpenAPI document; the page loads nothing from another site."""
    app.mount(STATIC_URL, StaticFiles(directory=SWAGGER_UI_DIR), name="docs-static")
    openapi_url = app.openapi_url or "/api/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · docs",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=FAVICON_URL,
        )
