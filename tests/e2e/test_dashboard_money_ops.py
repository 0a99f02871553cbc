"""Money operations in the dashboard, in a real browser: the daily close page lists a day's differences, each
linked to its order, and downloads them as CSV; the suppliers page shows each deposit's balance and its chart; a
failed alert is sent again and an alert acknowledged from the alerts page (both audited)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, AlertAck, CloseDifference, Customer, DailyClose, OperatorAction
from esa_domain.operations import daily_close, deposits
from esa_domain.operations.alerts import raise_alert
from esa_domain.operations.operators import create_operator
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

PASSWORD = "money-ops-admin-pass"


@pytest.fixture
def shop(db):
    with UnitOfWork(db) as uow:
        create_operator(uow.session, "boss", PASSWORD, role="admin", display_name="Boss")
        uow.commit()
    cat = factories.catalog(db)
    cust = factories.add(db, Customer(line_user_id="U" + uuid.uuid4().hex, display_name="Sari"))
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow, OrderRequest(cust.id, uuid.uuid4().hex, (OrderLine("TSEL10", "081311112222"),))
        )
    return db, cat, placed


def _audit(db) -> list[OperatorAction]:
    with Session(db) as s:
        return list(s.exec(select(OperatorAction).order_by(OperatorAction.id)).all())


def _log_in(page, url: str) -> None:
    page.goto(url)
    page.wait_for_url(re.compile(r"/login$"))
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")


def test_close_page_lists_the_days_differences_with_links_and_downloads_them(
    dashboard_url, dashboard_page, shop
):
    page, (db, cat, placed) = dashboard_page, shop
    day = daily_close.business_day(datetime.now(UTC))
    # a close as the 01:00 job stores it: the day's totals and two differences (one about an order)
    with UnitOfWork(db) as uow:
        uow.session.add(DailyClose(business_day=day, totals={"orders": 1, "esa_paid_count": 0,
                                                             "ecpay_paid_count": 1, "ecpay_paid_twd": 25},
                                   differences=2))  # fmt: skip
        uow.session.add(
            CloseDifference(
                business_day=day, kind=daily_close.PAID_NOT_RECORDED, dedupe_key=f"{day}:p:1",
                payment_id=placed.payment_id, merchant_trade_no=placed.merchant_trade_no, amount=25,
                detail="ECPay says trade 2412010000000001 was paid NT$25; here the order is PENDING",
            )
        )  # fmt: skip
        uow.session.add(
            CloseDifference(
                business_day=day, kind=daily_close.DEPOSIT_UNEXPLAINED, dedupe_key=f"{day}:d:1",
                supplier_id=cat["iak"].id, amount=750_000, detail="IAK's deposit fell Rp 750.000 more",
            )
        )  # fmt: skip
        uow.commit()
    _log_in(page, f"{dashboard_url}/close")
    page.wait_for_url(re.compile(r"/close/?$"))
    expect(page.locator("#close-days")).to_contain_text(day.isoformat())
    table = page.locator("#close-differences")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("Paid at ECPay, not paid here")
    expect(table).to_contain_text("Deposit moved more than deliveries explain")
    link = table.get_by_role("link", name=f"order {placed.payment_id}")
    expect(link).to_have_attribute("href", f"/orders/{placed.payment_id}")
    page.screenshot(path=str(ARTIFACTS / "close-1400.png"), full_page=True)

    href = page.locator("#close-csv").get_attribute("href")
    assert href == f"/_export/close.csv?from={day}&to={day}"
    with page.expect_download() as download:
        page.click("#close-csv")
    assert download.value.suggested_filename == f"close-{day}-to-{day}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert sorted((r["kind"], r["order_link"]) for r in rows) == sorted(
        [
            (daily_close.PAID_NOT_RECORDED, f"/orders/{placed.payment_id}"),
            (daily_close.DEPOSIT_UNEXPLAINED, ""),
        ]
    )
    assert any(a.action == "export_csv" and a.subject == "export:close" for a in _audit(db))
    link.click()
    page.wait_for_url(re.compile(rf"/orders/{placed.payment_id}/?$"))


def test_money_pages_read_on_a_phone(dashboard_url, dashboard_browser, shop):
    db, cat, _ = shop
    with UnitOfWork(db) as uow:
        deposits.record_balance(uow.session, cat["iak"].id, 4_000_000, source="poll")
        uow.session.add(DailyClose(business_day=daily_close.business_day(datetime.now(UTC)), totals={}))
        uow.commit()
    context = dashboard_browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20000)
    _log_in(page, f"{dashboard_url}/close")
    page.wait_for_url(re.compile(r"/close/?$"))
    for path in ("/close", "/suppliers", "/alerts"):
        page.goto(dashboard_url + path)
        expect(page.locator("#page-title")).to_be_visible()
        page.wait_for_timeout(300)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 391, f"{path} scrolls sideways ({width} px wide)"
        page.screenshot(path=str(ARTIFACTS / f"money-ops{path.replace('/', '-')}-390.png"), full_page=True)
    context.close()


def test_suppliers_show_balances_and_alerts_are_resent_and_acknowledged(dashboard_url, dashboard_page, shop):
    page, (db, cat, _) = dashboard_page, shop
    iak = cat["iak"]
    with UnitOfWork(db) as uow:
        now = datetime.now(UTC)
        deposits.record_balance(
            uow.session, iak.id, 9_000_000, source="poll", observed_at=now - timedelta(hours=6)
        )
        deposits.record_balance(uow.session, iak.id, 1_500_000, source="poll", observed_at=now)
        failed_id = raise_alert(uow.session, condition="job_failed", title="The FX refresh failed", body="HTTP 500",
                                public_url=dashboard_url, dedupe_key="job_failed:e2e")  # fmt: skip
        uow.session.get(Alert, failed_id).status = "failed"
        uow.commit()
    _log_in(page, f"{dashboard_url}/suppliers")
    page.wait_for_url(re.compile(r"/suppliers/?$"))
    sups = page.locator("#suppliers-table")
    expect(sups).to_contain_text("Rp1.500.000")
    expect(sups).to_contain_text("runs out: about 1 h")  # 7.5M in 6 h: 1.25M/h
    expect(page.locator("#balance-chart .recharts-line-curve").first).to_be_visible()  # IAK's two readings
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "suppliers-balances-1400.png"), full_page=True)

    page.goto(f"{dashboard_url}/alerts")
    row = page.locator(f'tr[data-alert="{failed_id}"]')
    row.locator(".alert-resend").click()
    expect(page.locator("#flash")).to_contain_text(f"Alert {failed_id} queued")
    row.locator(".alert-ack").click()
    expect(row).to_contain_text("acknowledged by boss")
    expect(row.locator(".alert-resend")).to_have_count(1)  # still not sent: it may be sent again
    page.screenshot(path=str(ARTIFACTS / "alerts-ack-1400.png"), full_page=True)
    with Session(db) as s:
        assert s.get(Alert, failed_id).status == "queued"
        assert s.exec(select(AlertAck)).one().alert_id == failed_id
        actions = [a.action for a in s.exec(select(OperatorAction).order_by(OperatorAction.id)).all()]
    assert actions[-2:] == ["resend_alert", "acknowledge_alert"]
