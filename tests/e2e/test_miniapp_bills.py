"""Bills and checks before paying in the Mini App (issue 16), in a real browser (Debian's chromium) at phone size
(390x844): a BPJS Kesehatan bill for 2 months inquired, shown, ordered, paid at ECPay's sandbox and delivered by a
real worker process paying IAK's simulator, with its receipt; a PLN meter's owner and a game player's nickname
shown before paying, and an XL number refused for a Telkomsel product before anything is paid.

Test data from iak-id/iak-api-reference-docs: BPJS 8801234560001 bills "VERGIE" 25000 a month (docs/postpaid/
core/product/bpjs-kesehatan/inquiry.md, its example answer for month 2), PLN meter 12345678901 is "Sintya
Oktaviani", R1 /000001300 (docs/prepaid/core/v2/inquiry/pln.md), 0817 is XL (docs/prepaid/prefix-list.md).
Set ESA_SCREENSHOT_DIR to keep screenshots of each step.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_miniapp are this module's test arguments)
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session

from esa_domain.models import (
    BillInquiry,
    Payment,
    PaymentItem,
    Product,
    ProductCategory,
    Supplier,
    SupplierOffer,
)
from tests.e2e.test_miniapp import _payments, _shot, browser, stack  # noqa: F401 (fixtures these tests use)

pytestmark = pytest.mark.e2e


def _bpjs(db) -> None:
    with Session(db) as s:
        iak = s.exec(select(Supplier).where(Supplier.code == "iak")).scalars().one()
        cat = ProductCategory(code="bpjs", name="BPJS Kesehatan", kind="postpaid", sort_order=9)
        s.add(cat)
        s.flush()
        p = Product(
            code="BPJSKES", category_id=cat.id, name="BPJS Kesehatan", price_twd=1, target_kind="customer_no"
        )
        s.add(p)
        s.flush()
        s.add(SupplierOffer(supplier_id=iak.id, product_id=p.id, supplier_sku="BPJS", cost_idr=2_400))
        s.commit()


def _page(browser, stack, user: str, lang: str = "id"):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    page.select_option("#lang", lang)
    page.click("#login")
    page.get_by_role("button", name=user).click()
    return page


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_bpjs_bill_for_two_months_is_inquired_shown_paid_and_delivered_with_its_receipt(db, stack, browser):
    from playwright.sync_api import expect

    _bpjs(db)
    page = _page(browser, stack, "Budi Santoso")
    page.get_by_role("button", name="BPJS Kesehatan", exact=True).click()
    expect(page.locator("[data-code=BPJSKES] .price")).to_have_text("Cek tagihan")  # no price before the bill
    page.click("[data-code=BPJSKES]")
    expect(page.locator("#bill-months-box")).to_be_visible()
    page.fill("#bill-no", "8801234560001")
    page.select_option("#bill-months", "2")
    _shot(page, "bill-1-form")
    page.click("#bill-check")

    # the bill as IAK knows it: name, period, amount, admin fee, and what it costs in NT$
    quote = page.locator("#bill-quote")
    expect(quote).to_contain_text("VERGIE")
    expect(quote).to_contain_text("02")
    expect(quote).to_contain_text("Rp 50.000")
    expect(quote).to_contain_text("Rp 2.500")
    expect(quote).to_contain_text("Rp 52.500")
    with Session(db) as s:
        inquiry = s.exec(select(BillInquiry)).scalars().one()
    assert inquiry.status == "QUOTED" and inquiry.months == 2
    expect(quote.locator(".sum")).to_contain_text(f"NT${inquiry.amount_twd}")
    expect(page.locator("#bill-pay")).to_contain_text(f"NT${inquiry.amount_twd}")
    assert _payments(db) == 0  # nothing is ordered by looking
    _no_sideways_scroll(page)
    _shot(page, "bill-2-quote")

    # ordered: the order page, then ECPay, then delivered with IAK's receipt number
    page.click("#bill-pay")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")
    expect(page.locator("#o-amount")).to_have_text(f"NT${inquiry.amount_twd}")
    _shot(page, "bill-3-order")
    page.click("#pay")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/ecpay/result/**")
    page.click("#back-to-app")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SUCCESS", timeout=40_000)
    with Session(db) as s:
        item = s.exec(select(PaymentItem)).scalars().one()
        payment = s.exec(select(Payment)).scalars().one()
        assert s.get(BillInquiry, inquiry.id).payment_item_id == item.id
    assert payment.amount_twd == inquiry.amount_twd and item.artifact
    expect(page.locator("#o-items")).to_contain_text(item.artifact)  # the supplier's receipt reference
    expect(page.locator("#o-items")).to_contain_text("VERGIE")  # and the bill it paid
    expect(page.locator("#o-items")).to_contain_text("Rp 52.500")
    _no_sideways_scroll(page)
    _shot(page, "bill-4-delivered")


def test_a_pln_meters_owner_and_a_players_nickname_are_shown_and_a_wrong_operator_refused_before_paying(
    db, stack, browser
):
    from playwright.sync_api import expect

    with Session(db) as s:  # IAK sells the game too, and can look its players up
        iak = s.exec(select(Supplier).where(Supplier.code == "iak")).scalars().one()
        ml86 = s.exec(select(Product).where(Product.code == "ML86")).scalars().one()
        s.add(
            SupplierOffer(
                supplier_id=iak.id, product_id=ml86.id, supplier_sku="mobilelegend86", cost_idr=22_500
            )
        )
        s.commit()
    page = _page(browser, stack, "Siti Rahmawati", lang="en")
    page.click("[data-code=TSEL10]")
    page.fill("#target", "081712345678")
    expect(page.locator("#target-error")).to_contain_text("a number of XL")
    _shot(page, "check-1-wrong-operator")
    page.click("#place-order")
    expect(page.locator("#target-error")).to_contain_text("XL")
    assert _payments(db) == 0

    # a game player's nickname (docs/prepaid/core/v2/inquiry/game/game-id.md: 156378300|8483 is "budi")
    page.click("button.back")
    page.get_by_role("button", name="Games", exact=True).click()
    page.click("[data-code=ML86]")
    page.fill("#target", "156378300")
    page.fill("#zone", "8483")
    expect(page.locator("#target-check")).to_have_text("Player: budi")
    _shot(page, "check-3-game-player")

    page.click("button.back")
    page.get_by_role("button", name="PLN token", exact=True).click()
    page.click("[data-code=PLN20]")
    page.fill("#target", "12345678901")
    expect(page.locator("#target-check")).to_have_text("Meter owner: Sintya Oktaviani (R1 /000001300)")
    _no_sideways_scroll(page)
    _shot(page, "check-2-meter-owner")
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")
