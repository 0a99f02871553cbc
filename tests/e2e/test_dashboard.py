"""The operator dashboard in a real browser against the real app (prod, single port) and real PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlmodel import Session

from esa_domain.models import OperatorAction, OutboxMessage, Payment, PaymentItem
from tests.e2e import builders
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(db):
    return builders.demo(db)


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", builders.PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#whoami")).to_have_text(username.title())


def _actions(engine) -> list[tuple[str, int | None]]:
    with Session(engine) as s:
        rows = s.execute(select(OperatorAction).order_by(OperatorAction.id)).scalars()
        return [(a.action, a.payment_id) for a in rows]


def test_logged_out_visitor_gets_only_the_login_page(dashboard_url, dashboard_page, demo):
    app_url, page = dashboard_url, dashboard_page
    page.goto(f"{app_url}/orders/{demo['review']}")
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.locator("#login-submit")).to_be_visible()
    assert "081377778888" not in page.content()
    page.fill("#username", "ops")
    page.fill("#password", "wrong password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("Wrong username or password")


def test_operator_finds_an_order_opens_its_timeline_and_resolves_it_with_audit(
    dashboard_url, dashboard_page, db, demo
):
    app_url, page = dashboard_url, dashboard_page
    _login(page, app_url, "ops")
    page.goto(f"{app_url}/orders")
    page.fill("#order-search", "081377778888")
    page.click("#order-search-submit")
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    page.locator("#orders-table tbody tr a").first.click()
    page.wait_for_url(re.compile(rf"/orders/{demo['review']}$"))
    expect(page.locator("#timeline")).to_contain_text("SUPPLIER_PENDING → NEEDS_REVIEW")
    expect(page.locator("#timeline")).to_contain_text("ECPay notification")
    page.screenshot(path=str(ARTIFACTS / "order.png"), full_page=True)

    page.click(f"#resolve-fail-{demo['review_item']}")
    page.fill("#action-reason", "IAK support confirmed it failed")
    page.click("#action-confirm")
    expect(page.locator("#flash")).to_contain_text("resolved as FAILED")
    expect(page.locator("#timeline")).to_contain_text("Operator action: resolve_review")
    expect(page.locator("#timeline")).to_contain_text("IAK support confirmed it failed")
    page.screenshot(path=str(ARTIFACTS / "order-after-action.png"), full_page=True)

    with Session(db) as s:
        assert s.get(PaymentItem, demo["review_item"]).status == "FAILED"
        assert s.get(Payment, demo["review"]).status == "FAILED"  # with a refund_payment message queued
        refund = s.exec(select(OutboxMessage).where(OutboxMessage.topic == "refund_payment")).scalars().all()
    assert [m.payload for m in refund] == [{"payment_id": demo["review"]}]
    assert ("resolve_review", demo["review"]) in _actions(db)


def test_an_empty_reason_is_refused_in_the_dialog(dashboard_url, dashboard_page, db, demo):
    app_url, page = dashboard_url, dashboard_page
    _login(page, app_url, "ops")
    page.goto(f"{app_url}/orders/{demo['stuck']}")
    page.click("#action-retry")
    page.click("#action-confirm")
    expect(page.locator("#action-error")).to_contain_text("say why")
    assert [a for a in _actions(db) if a[0] != "login"] == []


def test_a_viewer_sees_the_order_but_cannot_act_on_it(dashboard_url, dashboard_page, db, demo):
    app_url, page = dashboard_url, dashboard_page
    _login(page, app_url, "viewer")
    page.goto(f"{app_url}/orders/{demo['review']}")
    expect(page.locator("#timeline")).to_contain_text("NEEDS_REVIEW")
    expect(page.locator("#read-only")).to_be_visible()
    expect(page.locator(f"#resolve-fail-{demo['review_item']}")).to_have_count(0)
    expect(page.locator("#action-retry")).to_have_count(0)
    assert [a for a in _actions(db) if a[0] != "login"] == []


def test_logout_revokes_the_session(dashboard_url, dashboard_page, demo):
    app_url, page = dashboard_url, dashboard_page
    _login(page, app_url, "ops")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(f"{app_url}/stuck")
    page.wait_for_url(re.compile(r"/login$"))


def test_every_page_renders_with_demo_data(dashboard_url, dashboard_page, demo):
    app_url, page = dashboard_url, dashboard_page
    _login(page, app_url, "admin")
    checks = {
        "overview": ("/", "#stuck-count", "3"),
        "stuck": ("/stuck", "#stuck-table", "needs_review"),
        "orders": ("/orders", "#orders-table", "081377778888"),
        "suppliers": ("/suppliers", "#suppliers-table", "Lapak Gaming"),
        "fx": ("/fx", "#margins-table", "Telkomsel"),
        "catalog": ("/catalog", "#catalog-table", "TSEL10"),
        "alerts": ("/alerts", "#alerts-table", "Item needs review"),
    }
    for name, (path, selector, text) in checks.items():
        page.goto(f"{app_url}{path}")
        expect(page.locator(selector)).to_contain_text(text)
        page.wait_for_timeout(800)  # let the charts animate in before the screenshot
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
