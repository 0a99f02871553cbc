"""The real server (`reflex run --env prod --single-port`): the dashboard, the API and the Mini App behind one port
answer with security headers, and CORS only for our own origins (Reflex's default is any origin, credentials
included)."""

from __future__ import annotations

import httpx

EVIL = "https://evil.test"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


def test_a_dashboard_page_is_never_framed_and_never_sniffed(dashboard_url):
    r = httpx.get(f"{dashboard_url}/login", follow_redirects=True)
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_mini_app_may_be_framed_by_line_only(dashboard_url):
    r = httpx.get(f"{dashboard_url}/app/")
    assert r.status_code == 200
    assert "frame-ancestors https://*.line.me https://liff.line.me" in r.headers["content-security-policy"]
    assert "x-frame-options" not in r.headers


def test_cors_refuses_an_unknown_origin_everywhere_and_answers_our_own(dashboard_url):
    for path in ("/login", "/api/v1/orders", "/ping", "/ecpay/return"):
        preflight = httpx.options(f"{dashboard_url}{path}", headers={"Origin": EVIL, **PREFLIGHT})
        assert "access-control-allow-origin" not in preflight.headers, path
        simple = httpx.get(f"{dashboard_url}{path}", headers={"Origin": EVIL, "Cookie": "a=b"})
        # without Access-Control-Allow-Origin a browser hands the page nothing
        assert "access-control-allow-origin" not in simple.headers, path
    own = httpx.options(f"{dashboard_url}/ping", headers={"Origin": dashboard_url, **PREFLIGHT})
    assert own.headers["access-control-allow-origin"] == dashboard_url
