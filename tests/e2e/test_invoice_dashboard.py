"""E-invoices on the dashboard (issue 19), in a real browser (Debian's chromium) at 1440 and 390 wide: a delivered
order's invoice issued by ECPay's e-invoice simulator and reduced by an allowance for a partial refund, all through
the real domain code (tests/integration/test_invoices' steps); the day closed. The operator reads the invoice on
the order page (its card and its moves on the timeline), the day's invoice list (totals that tie, the daily close's
figures beside them, a link to the close, the filter in the URL, the CSV), and the invoice alert where alerts are.
Run it from a copy of the checkout (the dashboard builds into .web). Screenshots go to test-artifacts/.
"""

# ruff: noqa: F811  (fixtures imported from test_invoices are this module's test arguments)
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from esa_domain.adapters.ecpay import EcpayClient
from esa_domain.infra.db import UnitOfWork
from esa_domain.invoicing import issuing
from esa_domain.models import Alert, Invoice, InvoiceAllowance
from esa_domain.operations import daily_close
from tests.e2e import builders
from tests.e2e.conftest import ARTIFACTS
from tests.integration.test_invoices import (
    BOTH,
    IV,
    KEY,
    MID,
    _finish_items,
    _order,
    _refund_and_confirm,
    _set_carrier,
    ecpay_url,  # noqa: F401 (fixture)
    invoices,  # noqa: F401 (fixture)
    run_invoice_outbox,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def day_of_invoices(db, ecpay_url, invoices) -> dict:
    """A NT$70 order to a mobile barcode: delivered, invoiced, NT$20 refunded and allowed; an alert raised while
    the allowance lagged; the business day closed."""
    _, _, client = invoices
    builders.operators(db)
    placed = _order(db, ecpay_url)
    _set_carrier(db, placed.payment_id, "mobile", "/ABC+123")
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    _refund_and_confirm(db, ecpay_url, placed.payment_id, 20, "goodwill: late delivery")
    now = datetime.now(UTC)
    with Session(db) as s:  # the watchdog, an hour on: the allowance is not made yet
        assert issuing.check_invoices(
            s, timedelta(minutes=30), "https://esa.example", now + timedelta(hours=1)
        )
        s.commit()
    assert run_invoice_outbox(db, client) == ["DONE"]
    day = daily_close.business_day(now)
    daily_close.close_day(
        lambda: UnitOfWork(db), day, ecpay_client=EcpayClient(ecpay_url, MID, KEY, IV), adapters={},
        public_url="https://esa.example",
    )  # fmt: skip
    with Session(db) as s:
        invoice = s.exec(select(Invoice)).one()
        allowance = s.exec(select(InvoiceAllowance)).one()
        alert = s.exec(select(Alert).where(Alert.condition.like("invoice%"))).one()  # type: ignore[attr-defined]
    return {
        "payment_id": placed.payment_id,
        "invoice": invoice,
        "allowance": allowance,
        "alert": alert,
        "day": day,
    }


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", builders.PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#whoami")).to_have_text(username.title())


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"invoices-{name}.png"), full_page=True)


def test_the_days_invoices_tie_to_the_close_and_the_order_shows_its_invoice(
    dashboard_url, dashboard_browser, day_of_invoices
):
    d = day_of_invoices
    invoice, day = d["invoice"], d["day"].isoformat()
    context = dashboard_browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20000)
    _login(page, dashboard_url, "viewer")

    # the sidebar leads to the day's list (today's by default)
    page.get_by_role("link", name="E-invoices").first.click()
    expect(page.locator("#page-title")).to_have_text("E-invoices")
    expect(page.locator("#inv-day")).to_have_value(day)
    table = page.locator("#invoices-table")
    expect(table).to_contain_text(invoice.invoice_no)
    expect(table).to_contain_text(invoice.random_number)
    # totals: paid NT$70, NT$20 refunded, invoiced 70 less an allowance of 20: it ties, and so does the close
    expect(page.locator("#inv-paid")).to_have_text("NT$70")
    expect(page.locator("#inv-refunded")).to_have_text("NT$20")
    expect(page.locator("#inv-issued")).to_have_text("NT$70")
    expect(page.locator("#inv-allowance")).to_have_text("NT$20")
    expect(page.locator("#inv-ties")).to_contain_text("Ties")
    expect(page.locator("#inv-close-figures")).to_contain_text("paid NT$70, refunded NT$20 — the same")
    expect(page.locator("#invoice-adjustments")).to_contain_text(d["allowance"].allowance_no)
    # the alert raised while the allowance lagged, as on the Alerts page
    expect(page.locator("#inv-alerts")).to_contain_text(d["alert"].title)
    expect(page.locator("#inv-alerts")).to_contain_text("Invoice adjustment not made yet")
    _shot(page, "list-1440")

    # the CSV of the day, from the audited export endpoint
    csv_text = page.request.get(f"{dashboard_url}/_export/invoices.csv?from={day}&to={day}").text()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(r["invoice_no"], r["paid_twd"], r["allowance_twd"], r["difference_twd"]) for r in rows] == [
        (invoice.invoice_no, "70", "20", "0")
    ]

    # a filter is in the URL: FAILED shows nothing today, ISSUED shows the invoice
    page.goto(f"{dashboard_url}/invoices?day={day}&status=FAILED")
    expect(page.locator("#invoices-table")).not_to_contain_text(invoice.invoice_no)
    expect(page.locator(".empty-state").first).to_contain_text("No paid order of this day matches")
    page.goto(f"{dashboard_url}/invoices?day={day}&status=ISSUED")
    expect(page.locator("#invoices-table")).to_contain_text(invoice.invoice_no)

    # the close page of the same day, from the list
    page.click("#inv-close-link")
    expect(page.locator("#page-title")).to_have_text("Daily close")
    expect(page.locator("#close-days")).to_contain_text(day)

    # the alert is on the Alerts page with the others, linked to its order
    page.goto(f"{dashboard_url}/alerts")
    expect(page.locator("body")).to_contain_text(d["alert"].title)

    # the order page: the invoice's card and its moves on the timeline
    page.goto(f"{dashboard_url}/orders/{d['payment_id']}")
    expect(page.locator("#order-invoice-no")).to_have_text(invoice.invoice_no)
    expect(page.locator("#order-invoice")).to_contain_text("mobile barcode /ABC+123")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("invoice: PENDING → ISSUED")
    expect(timeline).to_contain_text("allowance NT$20: REQUESTED → DONE")
    _shot(page, "order-1440")
    context.close()

    # the same at 390 wide: nothing runs off the page sideways
    phone = dashboard_browser.new_context(viewport={"width": 390, "height": 844})
    page = phone.new_page()
    page.set_default_timeout(20000)
    _login(page, dashboard_url, "viewer")
    page.goto(f"{dashboard_url}/invoices?day={day}")
    expect(page.locator("#invoices-table")).to_contain_text(invoice.invoice_no)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(page, "list-390")
    page.goto(f"{dashboard_url}/orders/{d['payment_id']}")
    expect(page.locator("#order-invoice-no")).to_have_text(invoice.invoice_no)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(page, "order-390")
    phone.close()


def test_an_operator_sends_a_refused_invoice_again_to_ecpays_member_carrier(
    dashboard_url, dashboard_page, db, ecpay_url, invoices
):
    _, _, client = invoices
    builders.operators(db)
    # Given an order whose barcode ECPay does not know (a check skipped, say): ECPay refuses its invoice
    placed = _order(db, ecpay_url)
    _set_carrier(db, placed.payment_id, "mobile", "/ZZZ9999")
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    assert run_invoice_outbox(db, client) == ["FAILED"]
    page = dashboard_page
    _login(page, dashboard_url, "ops")
    page.goto(f"{dashboard_url}/orders/{placed.payment_id}")
    expect(page.locator("#order-invoice")).to_contain_text("/ZZZ9999")

    # When the operator sends it again to ECPay's member carrier, with a reason
    page.click("#action-retry-invoice")
    page.select_option("#invoice-carrier-kind", "none")
    page.fill("#action-reason", "the customer's barcode is not registered; member carrier instead")
    page.click("#action-confirm")
    expect(page.locator("#flash")).to_contain_text("sent to ECPay again")
    with Session(db) as s:
        invoice = s.exec(select(Invoice)).one()
    assert (invoice.status, invoice.carrier_kind, invoice.carrier_value) == ("FAILED", "none", None)

    # Then the worker's step issues it, and the order page shows it issued (the Send again button gone)
    assert issuing.issue_invoice(
        lambda: UnitOfWork(db), client, invoice.id, None, notify_email="x@esa.example"
    ) == ("ISSUED")
    page.reload()
    with Session(db) as s:
        invoice = s.exec(select(Invoice)).one()
    expect(page.locator("#order-invoice-no")).to_have_text(invoice.invoice_no)
    expect(page.locator("#order-invoice")).to_contain_text("ECPay member carrier")
    expect(page.locator("#action-retry-invoice")).to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("invoice: FAILED → ISSUED")
    _shot(page, "order-retried-1440")
