"""The real server (prod, single port) with the internet cut off: /api/docs still renders the API's operations,
and the ESA icon is served for the dashboard, the docs and the Mini App."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _cut_off_the_internet(page: Page) -> list[str]:
    """Abort every request to another host; returns the list of what was attempted."""
    attempted: list[str] = []

    def route(r) -> None:  # type: ignore[no-untyped-def]
        if urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return attempted


def test_api_docs_render_the_operations_with_every_other_site_blocked(dashboard_url, dashboard_page):
    page = dashboard_page
    # Given a browser that can reach only this server
    attempted = _cut_off_the_internet(page)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    # When it opens the API docs
    page.goto(f"{dashboard_url}/api/docs")
    # Then Swagger UI draws the operations of the OpenAPI document
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ESA API")
    expect(
        page.locator(".opblock-summary-path").filter(has_text=re.compile(r"^/api/v1/")).first
    ).to_be_visible()
    assert page.locator(".opblock").count() > 5
    page.screenshot(path=str(ARTIFACTS / "api-docs-offline.png"), full_page=False)
    assert attempted == []
    assert failed == []


def test_the_esa_icon_is_served_to_the_dashboard_docs_and_mini_app(dashboard_url, dashboard_page):
    expected = {
        "/favicon.ico": "image/",
        "/favicon.svg": "image/svg+xml",
        "/apple-touch-icon.png": "image/png",
        "/icon-192.png": "image/png",
        "/icon-512.png": "image/png",
    }
    for path, kind in expected.items():
        r = httpx.get(f"{dashboard_url}{path}")
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(kind), (path, r.headers["content-type"])
    # every icon the pages link is there
    page = dashboard_page
    for url in (f"{dashboard_url}/login", f"{dashboard_url}/api/docs", f"{dashboard_url}/app/"):
        page.goto(url)
        hrefs = page.eval_on_selector_all('link[rel~="icon"]', "links => links.map(l => l.href)")
        assert hrefs, f"{url} links no icon"
        for href in hrefs:
            assert httpx.get(href).status_code == 200, (url, href)
