"""/api/docs works without internet: Swagger UI's page names only files that the API itself serves."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from esa_api import create_app


@pytest.fixture
def api() -> TestClient:
    return TestClient(create_app())  # not entered: no lifespan, the docs need no database or Redis


def _referenced(html: str) -> dict[str, list[str]]:
    return {
        "script": re.findall(r'<script[^>]*\ssrc="([^"]+)"', html),
        "stylesheet": re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html),
        "icon": re.findall(r'<link[^>]*rel="(?:shortcut )?icon"[^>]*href="([^"]+)"', html),
    }


def test_docs_page_references_only_same_origin_scripts_and_styles(api):
    page = api.get("/api/docs")
    assert page.status_code == 200
    refs = _referenced(page.text)
    assert refs["script"] and refs["stylesheet"]
    for url in [u for urls in refs.values() for u in urls]:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not on this site"
    assert "http://" not in page.text and "https://" not in page.text
    assert "'/api/openapi.json'" in page.text


def test_docs_scripts_and_styles_are_served_by_the_api(api):
    refs = _referenced(api.get("/api/docs").text)
    for url in refs["script"]:
        r = api.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
        assert "SwaggerUIBundle" in r.text
    for url in refs["stylesheet"]:
        r = api.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].startswith("text/css")
        assert ".swagger-ui" in r.text


def test_docs_describe_the_openapi_document_swagger_ui_can_render(api):
    doc = api.get("/api/openapi.json").json()
    # the bundled Swagger UI is 5.x: OpenAPI 3.1 (FastAPI's) renders; 4.x would refuse it
    bundle = api.get(_referenced(api.get("/api/docs").text)["script"][0]).text
    assert doc["openapi"].startswith("3.1")
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)
    assert any(path.startswith("/api/v1/") for path in doc["paths"])


def test_redoc_is_not_offered(api):
    assert api.get("/api/redoc").status_code == 404
