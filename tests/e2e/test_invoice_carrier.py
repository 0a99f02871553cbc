"""The e-invoice carrier in the Mini App (issue 19), in a real browser (Debian's chromium) at phone size (390x844):
the customer reads what the e-invoice is, chooses a mobile barcode (手機條碼), a wrong one is refused BEFORE anything
is ordered or paid (a malformed one at once, one ECPay does not know after ECPay's CheckBarcode), in each language;
a right one is accepted and saved, the order is paid through ECPay's sandbox, delivered by a real worker process
buying from the IAK simulator, and the invoice ECPay's e-invoice simulator issued (its number and random code)
appears on the delivered order; the next checkout starts with the saved barcode.

The simulator's known barcodes are its documented constants (sandbox/ecpay_invoice.py DEMO_BARCODES); the format is
the Ministry of Finance's as ECPay documents it for CheckBarcode: '/' and 7 of 0-9 A-Z . + -.
Set ESA_SCREENSHOT_DIR to keep screenshots of each step.
"""

# ruff: noqa: F811  (the browser fixture imported from test_miniapp is this module's test argument)
from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select
from sqlmodel import Session

from esa_api import create_app
from esa_api.customer.config import CustomerApiConfig
from esa_domain.adapters.suppliers.iak import IakSettings
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import Invoice, InvoiceAllowance, Payment, SavedInvoiceCarrier
from esa_domain.operations.actions import refund
from esa_domain.operations.operators import create_operator
from sandbox import ecpay_invoice, iak
from sandbox._common import SimulatorConfig
from sandbox.app import IAK
from sandbox.ecpay import SandboxConfig, create_ecpay_sandbox
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories
from tests.e2e.test_miniapp import _shot, browser  # noqa: F401 (the fixture these tests use)
from tests.e2e.test_miniapp_bills import _bpjs
from tests.servers import free_port
from tests.worker_process import WorkerProcess
from workers.publisher import DramatiqPublisher

pytestmark = pytest.mark.e2e

# what each language shows, so the test reads the page as a person of that language would
WORDS = {
    "id": {"about": "faktur elektronik", "format": "dimulai dengan /", "unknown": "tidak terdaftar"},
    "en": {"about": "electronic invoice", "format": "/ followed by 7", "unknown": "not registered"},
    "zh-Hant": {"about": "電子發票", "format": "7 個大寫英文字母", "unknown": "未在財政部電子發票平台註冊"},
}
GOOD, UNKNOWN = "/ABC+123", "/ZZZ9999"


@pytest.fixture
def stack(db, database_url, redis_url, redis_client, run_asgi, tmp_path) -> Iterator[dict[str, str]]:
    """The API with the Mini App, ECPay's payment and e-invoice simulators, LINE's, IAK's, and a real worker."""
    assert GOOD in ecpay_invoice.DEMO_BARCODES and UNKNOWN not in ecpay_invoice.DEMO_BARCODES
    factories.catalog(db)
    line_cfg = LineSandboxConfig()
    line_url = run_asgi(create_line_sandbox(line_cfg))
    ecpay_url = run_asgi(create_ecpay_sandbox(config=SandboxConfig(retry_intervals=(0.5,))))
    invoice_url = run_asgi(ecpay_invoice.create_app())
    app = create_app()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    iak_url = run_asgi(
        iak.create_app(
            **IAK, callback_url=f"{base}/callbacks/iak", config=SimulatorConfig(callback_delay=0.3)
        )
    )
    run_asgi(app, port=port)
    invoice_env = {
        "ECPAY_INVOICE_BASE_URL": invoice_url,
        "ECPAY_INVOICE_MERCHANT_ID": ecpay_invoice.MERCHANT_ID,
        "ECPAY_INVOICE_HASH_KEY": ecpay_invoice.HASH_KEY,
        "ECPAY_INVOICE_HASH_IV": ecpay_invoice.HASH_IV,
    }
    settings = Settings(
        database_url="x",
        redis_url=redis_url,
        ESA_PUBLIC_URL=base,
        ecpay_base_url=ecpay_url,
        ecpay_invoice_base_url=invoice_url,
        ecpay_invoice_merchant_id=ecpay_invoice.MERCHANT_ID,
        ecpay_invoice_hash_key=ecpay_invoice.HASH_KEY,
        ecpay_invoice_hash_iv=ecpay_invoice.HASH_IV,
        suppliers={
            "iak": IakSettings(
                username=IAK["username"], api_key=IAK["api_key"], prepaid_url=iak_url, postpaid_url=iak_url
            )
        },
    )
    worker_env = {
        "IAK_USERNAME": IAK["username"],
        "IAK_API_KEY": IAK["api_key"],
        "IAK_PREPAID_URL": iak_url,
        "IAK_POSTPAID_URL": iak_url,
        "ECPAY_BASE_URL": ecpay_url,
        **invoice_env,
        "LINE_API_BASE_URL": line_url,
        "LINE_CHANNEL_ACCESS_TOKEN": line_cfg.channel_access_token,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_PUBLIC_URL": base,
    }
    app.state.runtime = Runtime(settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    app.state.customer_config = CustomerApiConfig(
        token_secret=b"e" * 32,
        line_channel_id=line_cfg.channel_id,
        line_login_base_url=line_url,
        line_login_page_url=f"{line_url}/_sandbox/login",
        public_url=base,
    )
    with WorkerProcess(worker_env, log_path=tmp_path / "worker.log"):
        yield {
            "api": base,
            "line": line_url,
            "ecpay": ecpay_url,
            "invoice": invoice_url,
            "rt": app.state.runtime,
        }


def _payments(db) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(Payment)).scalar_one()


def _asked(stack) -> list[str]:
    """The barcodes ECPay's e-invoice simulator was asked about (CheckBarcode)."""
    requests = httpx.get(f"{stack['invoice']}/_sandbox/ledger").json()["requests"]
    return [q["data"]["BarCode"] for q in requests if q["operation"] == "CheckBarcode"]


def _page(browser, stack, lang: str, user: str = "Budi Santoso"):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    page.select_option("#lang", lang)
    page.click("#login")
    page.get_by_role("button", name=user).click()
    page.click("[data-code=TSEL10]")
    page.fill("#target", "081234567890")
    return page


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("lang", ["id", "en", "zh-Hant"])
def test_a_wrong_mobile_barcode_is_refused_before_anything_is_ordered_in_the_customers_language(
    db, stack, browser, lang
):
    from playwright.sync_api import expect

    w = WORDS[lang]
    page = _page(browser, stack, lang)
    # what the e-invoice is, said briefly in their language; none is chosen until they choose
    expect(page.locator("#carrier-about")).to_contain_text(w["about"])
    expect(page.locator("#carrier-none")).to_be_checked()
    page.check("#carrier-mobile")
    expect(page.locator("#carrier-value")).to_be_visible()
    _no_sideways_scroll(page)
    _shot(page, f"invoice-{lang}-1-carrier")

    # a malformed barcode: refused at once, in their words; nothing ordered, ECPay not even asked
    page.fill("#carrier-value", "ABC123")
    page.click("#place-order")
    expect(page.locator("#carrier-error")).to_contain_text(w["format"])
    assert "pattern" not in page.locator("#carrier-error").inner_text()
    assert _payments(db) == 0 and _asked(stack) == []
    _shot(page, f"invoice-{lang}-2-format")

    # a well-formed one ECPay does not know: refused after ECPay's CheckBarcode, before the order
    page.fill("#carrier-value", UNKNOWN)
    page.click("#place-order")
    expect(page.locator("#carrier-error")).to_contain_text(w["unknown"])
    assert _asked(stack) == [UNKNOWN] and _payments(db) == 0
    expect(page.locator("#order-status")).to_be_hidden()
    _no_sideways_scroll(page)
    _shot(page, f"invoice-{lang}-3-unknown")


def test_a_right_mobile_barcode_is_saved_paid_and_its_invoice_number_shows_on_the_delivered_order(
    db, stack, browser
):
    from playwright.sync_api import expect

    _bpjs(db)
    page = _page(browser, stack, "id")
    page.check("#carrier-mobile")
    page.fill(
        "#carrier-value", "/abc+123"
    )  # typed in small letters: the barcode in capitals, as ECPay takes it
    page.check("#carrier-save")
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")
    assert _asked(stack) == [GOOD]
    with Session(db) as s:
        payment = s.exec(select(Payment)).scalars().one()
        saved = s.exec(select(SavedInvoiceCarrier)).scalars().one()
    assert (payment.invoice_carrier_kind, payment.invoice_carrier_value) == ("mobile", GOOD)
    assert (saved.kind, saved.value) == ("mobile", GOOD)
    _shot(page, "invoice-id-4-order")

    page.click("#pay")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/ecpay/result/**")
    page.click("#back-to-app")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SUCCESS", timeout=40_000)

    # the invoice ECPay issued to the barcode: its number and random code on the order page
    box = page.locator("#o-invoice")
    expect(box).to_have_attribute("data-status", "ISSUED", timeout=40_000)
    with Session(db) as s:
        invoice = s.exec(select(Invoice)).scalars().one()
    issued = httpx.get(f"{stack['invoice']}/_sandbox/ledger").json()["invoices"]
    assert [i["invoice_no"] for i in issued] == [invoice.invoice_no] and invoice.invoice_no
    expect(box).to_contain_text(invoice.invoice_no)
    expect(box).to_contain_text(invoice.random_number or "")
    expect(box).to_contain_text(f"Barcode ponsel {GOOD}")
    _no_sideways_scroll(page)
    _shot(page, "invoice-id-5-delivered")

    # an operator refunds NT$10 of it (ECPay DoAction by the worker): ECPay's allowance (折讓) follows, and the
    # customer reads it on the order when they open it again
    with stack["rt"].uow() as uow:
        ops = create_operator(uow.session, "ops", "a-long-password-1", role="operator")
        uow.commit()
    with stack["rt"].uow() as uow:  # its send_refund leaves for the worker after commit
        refund(uow, ops, payment.id, "goodwill: late delivery", 10)
        uow.commit()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        with Session(db) as s:
            allowance = s.exec(select(InvoiceAllowance)).scalars().first()
        if allowance is not None and allowance.status == "DONE":
            break
        time.sleep(0.5)
    assert allowance is not None and (allowance.kind, allowance.amount_twd, allowance.status) == (
        "allowance",
        10,
        "DONE",
    )
    page.reload()
    expect(page.locator("#o-invoice")).to_contain_text("Faktur dikurangi (折讓) NT$10")
    _shot(page, "invoice-id-5b-allowance")

    # the next checkout starts with the saved barcode
    page.click("[data-back=orders]")
    page.click("#view-orders .tab[data-tab=shop]")
    page.click("[data-code=TSEL10]")
    expect(page.locator("#carrier-mobile")).to_be_checked()
    expect(page.locator("#carrier-value")).to_have_value(GOOD)
    _shot(page, "invoice-id-6-prefilled")

    # a bill, ordered from its quote, says its e-invoice goes to the saved barcode too
    page.click("#view-product .back")
    page.get_by_role("button", name="BPJS Kesehatan", exact=True).click()
    page.click("[data-code=BPJSKES]")
    page.fill("#bill-no", "8801234560001")  # IAK's documented BPJS example (VERGIE)
    page.click("#bill-check")
    expect(page.locator("#bill-quote")).to_contain_text("VERGIE")
    expect(page.locator("#bill-carrier")).to_have_text(f"E-invoice (電子發票): Barcode ponsel {GOOD}")
    _shot(page, "invoice-id-7-bill")
