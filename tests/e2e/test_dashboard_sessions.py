"""Dashboard sessions attacked as in the production-hardening review: the real app (prod, single port),
real PostgreSQL and Redis, Debian's chromium, and a bare websocket client."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from esa_domain.models import OperatorAction
from tests.conftest import _TABLES
from tests.e2e import builders

pytestmark = pytest.mark.e2e

PHONE = "081377778888"  # the customer's number on the order that needs review


@pytest.fixture
def db(engine):
    """The engine on empty tables; the TRUNCATE is retried when a query of the previous test's page deadlocks it."""
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
            return engine
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(1)
    return engine


@pytest.fixture
def demo(db):
    return builders.demo(db)


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", builders.PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#whoami")).to_have_text(username.title())


def _frames(page: Page) -> list[str]:
    """Everything the server sends this page over its websocket."""
    frames: list[str] = []

    def watch(ws) -> None:
        ws.on(
            "framereceived",
            lambda f: frames.append(f if isinstance(f, str) else f.decode("utf-8", "replace")),
        )

    page.on("websocket", watch)
    return frames


def test_after_logout_the_old_client_token_gets_no_order_data(dashboard_url, dashboard_browser, demo):
    # Given an operator who opened an order, then logged out
    victim = dashboard_browser.new_context()
    page = victim.new_page()
    _login(page, dashboard_url, "ops")
    page.goto(f"{dashboard_url}/orders/{demo['review']}")
    expect(page.locator("#timeline")).to_contain_text("NEEDS_REVIEW")
    client_token = page.evaluate("window.sessionStorage.getItem('token')")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login$"))
    victim.close()

    # When someone reconnects with that client token (it travels in the websocket URL), without the cookie
    attacker = dashboard_browser.new_context()
    attacker.add_init_script(f"window.sessionStorage.setItem('token', {json.dumps(client_token)})")
    page = attacker.new_page()
    frames = _frames(page)
    page.goto(f"{dashboard_url}/orders/{demo['review']}")
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.locator("#login-submit")).to_be_visible()
    page.wait_for_timeout(1500)

    # Then the states the server sends hold nothing of the order
    sent = "".join(frames)
    assert frames, "no state came over the websocket"
    assert page.evaluate("window.sessionStorage.getItem('token')") == client_token
    assert PHONE not in sent and "NEEDS_REVIEW" not in sent
    assert PHONE not in page.content()
    attacker.close()


def test_thirty_wrong_passwords_then_the_right_one_is_refused_and_audited_in_one_row(
    dashboard_url, dashboard_page, db, demo
):
    page = dashboard_page
    page.goto(f"{dashboard_url}/login")
    page.fill("#username", "ops")
    for n in range(30):
        page.fill("#password", f"wrong password {n}")
        page.click("#login-submit")
    page.fill("#password", builders.PASSWORD)
    page.click("#login-submit")

    def failed() -> list[OperatorAction]:
        with Session(db) as s:
            return list(
                s.execute(select(OperatorAction).where(OperatorAction.action == "login_failed")).scalars()
            )

    deadline = time.monotonic() + 60
    while not (failed() and failed()[0].detail["attempts"] == 31) and time.monotonic() < deadline:
        time.sleep(0.5)
    expect(page.locator("#login-error")).to_contain_text("Too many failed logins. Try again after")
    assert re.search(r"/login/?$", page.url)
    expect(page.locator("#whoami")).to_have_count(0)
    rows = failed()
    assert [(r.subject, r.detail["attempts"]) for r in rows] == [("user:ops", 31)]
    with Session(db) as s:
        assert s.execute(select(OperatorAction).where(OperatorAction.action == "login")).first() is None


def test_the_session_cookie_is_httponly_strict_and_out_of_scripts_reach(dashboard_url, dashboard_page, demo):
    page = dashboard_page
    _login(page, dashboard_url, "ops")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "esa_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and len(cookie["value"]) >= 40
    assert "esa_session" not in page.evaluate("document.cookie")
    assert cookie["value"] not in page.evaluate(
        "JSON.stringify(window.sessionStorage) + JSON.stringify(localStorage)"
    )


def test_a_websocket_from_another_origin_is_refused(dashboard_url, demo):
    socket_url = dashboard_url.replace("http://", "ws://") + "/_event/?EIO=4&transport=websocket"
    with pytest.raises(InvalidStatus) as refused:
        connect(socket_url, additional_headers={"Origin": "https://evil.example"}, open_timeout=10)
    assert refused.value.response.status_code == 403
    with connect(socket_url, additional_headers={"Origin": dashboard_url}, open_timeout=10) as ws:
        assert ws.recv(timeout=10).startswith(
            "0"
        )  # engine.io's open packet: the dashboard's own origin works


def test_an_idle_session_is_refused_and_its_page_emptied(dashboard_url, dashboard_page, db, demo):
    page = dashboard_page
    _login(page, dashboard_url, "ops")
    page.goto(f"{dashboard_url}/orders/{demo['review']}")
    expect(page.locator("#timeline")).to_contain_text("NEEDS_REVIEW")
    with db.begin() as conn:  # 31 minutes without a request (ESA_SESSION_IDLE_MINUTES defaults to 30)
        conn.execute(text("UPDATE operator_sessions SET last_used_at = now() - interval '31 minutes'"))
    page.goto(f"{dashboard_url}/orders/{demo['review']}")
    page.wait_for_url(re.compile(r"/login$"))
    assert PHONE not in page.content()
