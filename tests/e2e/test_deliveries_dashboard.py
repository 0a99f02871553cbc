"""A delivered voucher on the dashboard's order page, in a real browser: the timeline shows what was delivered
with the PIN sealed; an operator's "Reveal PIN (audited)" shows it and records who looked; a viewer gets no
button and the page never carries the PIN before a reveal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from esa_domain.adapters.suppliers.base import Delivery
from esa_domain.core.states import ItemStatus
from esa_domain.fulfillment.delivery import store_delivery
from esa_domain.models import OperatorAction
from esa_domain.views.routes import order_url
from tests import factories
from tests.e2e import builders
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e
PIN = "731904562"


@pytest.fixture
def delivered_voucher(db):
    cat = factories.catalog(db)
    ops = builders.operators(db)
    cust = factories.customer(db, "U4af4980629a1b2c3d4e5f60718293a4c")
    pid = builders.order(db, cust.id, [("TSEL10", "081234567890")], age=timedelta(minutes=5))
    builders.pay(db, pid)
    (item_id,) = builders.item_ids(db, pid)
    builders.attempt(db, item_id, cat["iak"].id, "SUCCESS", message="SUCCESS")
    builders.move_item(db, item_id, ItemStatus.PROCESSING, ItemStatus.SUCCESS, artifact="ABCD-EFGH-IJKL-MNOP")
    with Session(db) as s:
        store_delivery(s, item_id, None, Delivery(serial="ABCD-EFGH-IJKL-MNOP", pin=PIN))
        s.commit()
    return pid, item_id, ops


def _log_in(page, base: str, user: str, target: str) -> None:
    page.goto(base + target)
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#username", user)
    page.fill("#password", builders.PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)
    if not page.url.endswith(target):
        page.goto(base + target)


def test_an_operator_reveals_a_pin_only_through_an_audited_action(
    db, dashboard_url, dashboard_page, delivered_voucher
):
    page, (pid, item_id, ops) = dashboard_page, delivered_voucher
    _log_in(page, dashboard_url, "ops", order_url(pid))
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text(f"item #{item_id} delivered")
    expect(timeline).to_contain_text("pin sealed")
    button = page.locator(f"#reveal-{item_id}")
    expect(button).to_be_visible()
    assert PIN not in page.content()  # nothing on the page, nor in its state, before the reveal
    with Session(db) as s:
        assert not s.exec(select(OperatorAction).where(OperatorAction.action == "delivery_revealed")).all()

    button.click()

    expect(page.locator(f"#revealed-{item_id}")).to_contain_text(f"PIN {PIN}")
    page.screenshot(path=str(ARTIFACTS / "deliveries-reveal.png"), full_page=True)
    with Session(db) as s:
        audit = s.exec(select(OperatorAction).where(OperatorAction.action == "delivery_revealed")).all()
    assert [(a.operator_id, a.payment_id, a.subject) for a in audit] == [(ops["ops"], pid, f"item:{item_id}")]
    assert PIN not in str(audit[0].detail)


def test_a_viewer_gets_no_reveal(db, dashboard_url, dashboard_page, delivered_voucher):
    page, (pid, item_id, _) = dashboard_page, delivered_voucher
    _log_in(page, dashboard_url, "viewer", order_url(pid))
    expect(page.locator("#timeline")).to_contain_text(f"item #{item_id} delivered")
    expect(page.locator(f"#reveal-{item_id}")).to_have_count(0)
    assert PIN not in page.content()
