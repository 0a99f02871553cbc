"""Refunds on the order page in a real browser: an operator refunds part of a delivered order with a reason, keeps
the customer's bank details and marks the task done with a transfer reference; every step audited."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlmodel import Session

from esa_domain.models import OperatorAction, Payment, Refund
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


def test_operator_refunds_part_of_a_delivered_order_and_finishes_the_task_by_hand(
    dashboard_url, dashboard_page, db, demo
):
    app_url, page = dashboard_url, dashboard_page
    pid = demo["delivered"]
    with Session(db) as s:
        charged = s.get(Payment, pid).amount_twd
    _login(page, app_url, "ops")
    page.goto(f"{app_url}/orders/{pid}")
    # Given a delivered order, When the operator refunds NT$10 of it as goodwill
    page.click("#action-refund")
    expect(page.locator("#refund-hint")).to_contain_text(f"Up to NT${charged} can still be refunded")
    # paid by card, but no ECPay TradeNo is known for it: DoAction cannot refund it, a person will
    expect(page.locator("#refund-hint")).to_contain_text("task to refund by hand")
    page.fill("#refund-amount", "10")
    page.fill("#action-reason", "goodwill: the customer waited an hour")
    page.click("#action-confirm")
    # Then the order stays delivered and its refund is listed as an operator's task
    expect(page.locator("#flash")).to_contain_text("Payment is now SUCCESS")
    expect(page.locator("#refunds-table")).to_contain_text("NT$10")
    expect(page.locator("#refunds-table")).to_contain_text("Operator task: refund by hand")
    expect(page.locator("#refunds-table")).to_contain_text("goodwill: the customer waited an hour")
    with Session(db) as s:
        (refund,) = s.execute(select(Refund).where(Refund.payment_id == pid)).scalars()
    assert (refund.status, refund.amount_twd, refund.purpose) == ("MANUAL", 10, "operator")
    page.screenshot(path=str(ARTIFACTS / "order-refund-task.png"), full_page=True)
    # When the operator keeps the customer's bank details and marks it done with the transfer's reference
    page.click(f"#refund-bank-button-{refund.id}")
    page.fill("#refund-bank", "Bank Taishin 812, 1234567890, WANG")
    page.click("#action-confirm")
    expect(page.locator(f"#refund-bank-{refund.id}")).to_contain_text("Bank Taishin 812, 1234567890, WANG")
    page.click(f"#refund-done-{refund.id}")
    page.fill("#refund-reference", "TRF-20261202-7")
    page.click("#action-confirm")
    expect(page.locator("#flash")).to_contain_text("Refund marked done")
    expect(page.locator("#refunds-table")).to_contain_text("Reference: TRF-20261202-7")
    expect(page.locator(f"#refund-done-{refund.id}")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "order-refund-done.png"), full_page=True)
    with Session(db) as s:
        done = s.get(Refund, refund.id)
        payment = s.get(Payment, pid)
        audit = [a.action for a in s.execute(select(OperatorAction).order_by(OperatorAction.id)).scalars()]
    assert (done.status, done.reference) == ("CONFIRMED", "TRF-20261202-7")
    assert (payment.status, payment.refunded_twd) == ("SUCCESS", 10)
    assert [a for a in audit if a != "login"] == ["refund", "refund_bank_details", "refund_done"]


def test_the_stuck_page_lists_a_refund_that_is_not_moving(dashboard_url, dashboard_page, db, demo):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from esa_domain.infra.db import UnitOfWork
    from esa_domain.payments import refunds
    from esa_domain.payments.accept import EcpayConfig

    # Given a failed card order whose refund left for ECPay two hours ago and was never answered
    pid = demo["failed"]
    with Session(db) as s:
        s.execute(update(Payment).where(Payment.id == pid).values(ecpay_trade_no="2401011234567890"))
        s.commit()
    ecpay = EcpayConfig("3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "http://127.0.0.1:9", "http://x")
    refunds.refund_payment(lambda: UnitOfWork(db), pid, ecpay)
    with Session(db) as s:
        (refund,) = s.execute(select(Refund).where(Refund.payment_id == pid)).scalars()
    with ecpay.client(timeout=1.0) as client:  # ECPay unreachable: the outcome is unknown, it stays SENT
        assert refunds.send_refund(lambda: UnitOfWork(db), refund.id, ecpay, client) == "SENT"
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    with Session(db) as s:
        s.execute(
            update(Refund)
            .where(Refund.id == refund.id)
            .values(updated_at=two_hours_ago, sent_at=two_hours_ago)
        )
        s.commit()
    # When an operator opens the Stuck page, Then the refund is there, with what it waits for and a link
    app_url, page = dashboard_url, dashboard_page
    _login(page, app_url, "ops")
    page.goto(f"{app_url}/stuck")
    row = page.locator("#stuck-table tbody tr", has_text="refund_stuck")
    expect(row).to_contain_text(f"refund #1 NT${refund.amount_twd} SENT")
    expect(row).to_contain_text("not moving for 2 h 0 min")
    page.screenshot(path=str(ARTIFACTS / "stuck-refund.png"), full_page=True)
    row.locator("a").first.click()
    expect(page.locator("#refunds-table")).to_contain_text("Sent to ECPay, answer not recorded")
    # its way out by hand: close it with what ECPay's back office shows (no bank details: it went to the card)
    expect(page.locator(f"#refund-done-{refund.id}")).to_be_visible()
    expect(page.locator(f"#refund-bank-button-{refund.id}")).to_have_count(0)
    page.click(f"#refund-done-{refund.id}")
    page.fill("#refund-reference", "ECPay back office: refunded")
    page.click("#action-confirm")
    expect(page.locator("#flash")).to_contain_text("Refund marked done")
    with Session(db) as s:
        assert s.get(Refund, refund.id).status == "CONFIRMED"
        assert s.get(Payment, pid).status == "REFUNDED"
