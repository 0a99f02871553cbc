"""Convenience in the Mini App (issue 17, item 6), in a real browser (Debian's chromium) at phone size (390x844),
in each language: the number typed first finds its operator (IAK's docs/prepaid/prefix-list.md: 0812 is
TELKOMSEL) and offers that operator's products; the number saved as "Ibu"; the order paid at ECPay's sandbox and
delivered by a real worker process paying IAK's simulator; its receipt (what, to whom, the serial, NT$ amounts,
the payment method, the time); "buy again" places a new order of the same number; the saved number fills the
form next time. Set ESA_SCREENSHOT_DIR to keep screenshots of each step.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_miniapp are this module's test arguments)
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session

from esa_domain.models import Payment, PaymentItem, SavedNumber
from tests.e2e.test_miniapp import _payments, _shot, browser, stack  # noqa: F401 (fixtures these tests use)

pytestmark = pytest.mark.e2e

WORDS = {
    "id": {"operator": "Nomor Telkomsel", "saved": "Tersimpan sebagai Ibu", "method": "Kartu kredit/debit",
           "receipt": "Struk #", "again": "Beli lagi", "to": "Ke Ibu (081234567890)"},
    "en": {"operator": "Telkomsel number", "saved": "Saved as Ibu", "method": "Credit/debit card",
           "receipt": "Receipt #", "again": "Buy again", "to": "To Ibu (081234567890)"},
    "zh-Hant": {"operator": "Telkomsel 號碼", "saved": "已儲存為「Ibu」", "method": "信用卡/金融卡",
                "receipt": "收據 #", "again": "再買一次", "to": "Ibu (081234567890)"},
}  # fmt: skip


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("lang", ["id", "en", "zh-Hant"])
def test_number_first_saved_as_ibu_paid_receipt_and_buy_again_in_each_language(db, stack, browser, lang):
    from playwright.sync_api import expect

    w = WORDS[lang]
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    page.select_option("#lang", lang)
    page.click("#login")
    page.get_by_role("button", name="Budi Santoso").click()
    expect(page.locator("#who")).to_have_text("Budi Santoso")

    # The number typed first: its operator, and that operator's products with the number on them
    page.fill("#nf-number", "+62 812 3456 7890")
    expect(page.locator("#nf-found")).to_contain_text(w["operator"])
    expect(page.locator("#nf-products [data-code=TSEL10]")).to_contain_text("081234567890")
    _no_sideways_scroll(page)
    _shot(page, f"convenience-{lang}-1-number-first")

    # Not a number: said in words, in their language, nothing offered
    page.fill("#nf-number", "0212345678")
    expect(page.locator("#nf-error")).to_be_visible()
    assert "pattern" not in page.locator("#nf-error").inner_text()
    expect(page.locator("#nf-products .item")).to_have_count(0)
    page.fill("#nf-number", "081234567890")
    page.click("#nf-products [data-code=TSEL10]")

    # The form comes filled; the number is saved as "Ibu"
    expect(page.locator("#target")).to_have_value("081234567890")
    page.fill("#save-name", "Ibu")
    page.click("#save-number")
    expect(page.locator("#save-note")).to_have_text(w["saved"])
    with Session(db) as s:
        saved = s.exec(select(SavedNumber)).scalars().one()
    assert (saved.name, saved.target, saved.operator) == ("Ibu", "081234567890", "telkomsel")
    _shot(page, f"convenience-{lang}-2-saved")

    # Ordered, paid at ECPay's sandbox, delivered by the worker
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")
    expect(page.locator("#o-conv")).to_be_hidden()  # no receipt or buy again before it is finished
    page.click("#pay")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/ecpay/result/**")
    page.click("#back-to-app")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SUCCESS", timeout=40_000)
    expect(page.locator("#buy-again")).to_have_text(w["again"])
    _shot(page, f"convenience-{lang}-3-delivered")

    # Its receipt: what, to whom (by the saved name), the serial, the NT$ amount, how and when it was paid
    with Session(db) as s:
        payment = s.exec(select(Payment)).scalars().one()
        item = s.exec(select(PaymentItem)).scalars().one()
    page.click("#show-receipt")
    receipt = page.locator("#receipt")
    expect(receipt).to_contain_text(f"{w['receipt']}{payment.id}")
    expect(receipt).to_contain_text("Telkomsel 10.000")
    expect(receipt).to_contain_text(w["to"])
    expect(receipt).to_contain_text(item.artifact)
    expect(receipt).to_contain_text(w["method"])
    expect(receipt.locator(".sum")).to_contain_text(f"NT${payment.amount_twd}")
    expect(receipt).to_contain_text(payment.merchant_trade_no)
    expect(page.locator("#receipt-status")).to_have_attribute("data-status", "SUCCESS")
    _no_sideways_scroll(page)
    _shot(page, f"convenience-{lang}-4-receipt")

    # Buy again: back to the order, one tap, a new order of the same number waiting for payment
    page.click("#receipt-back")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SUCCESS")
    page.click("#buy-again")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")
    expect(page.locator("#o-items")).to_contain_text("081234567890")
    assert page.locator("#o-id").inner_text() != f"#{payment.id}"
    assert _payments(db) == 2
    _shot(page, f"convenience-{lang}-5-bought-again")

    # Next time the saved number is a chip on the shop: one tap fills it
    page.click("#view-order .back")
    page.click("#view-orders [data-tab=shop]")
    chip = page.locator("#nf-saved .saved-chip").first
    expect(chip).to_contain_text("Ibu")
    chip.locator(".use").click()
    expect(page.locator("#nf-number")).to_have_value("081234567890")
    expect(page.locator("#nf-products [data-code=TSEL10]")).to_be_visible()
    _no_sideways_scroll(page)
    _shot(page, f"convenience-{lang}-6-saved-chip")
