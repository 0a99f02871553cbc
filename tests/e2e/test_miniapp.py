"""The Mini App in a real browser (Debian's chromium) at phone size, in each of its languages: sign-in through
the LIFF stand-in, a rejected target in words, an order, a declined card at ECPay's sandbox, the result page
leading back into the app, a second attempt on the same order, delivery by a real worker process buying from
the IAK simulator, and the LINE messages the customer received.
Set ESA_SCREENSHOT_DIR to keep screenshots of each step.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select
from sqlmodel import Session

from esa_api import create_app
from esa_api.customer.config import CustomerApiConfig
from esa_domain.adapters.suppliers.iak import IakSettings
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import Customer, Payment, PaymentCheckout, PaymentItem
from sandbox import iak
from sandbox._common import SimulatorConfig
from sandbox.app import IAK
from sandbox.ecpay import SandboxConfig, create_ecpay_sandbox
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories
from tests.servers import free_port
from tests.worker_process import WorkerProcess
from workers.publisher import DramatiqPublisher

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def stack(db, database_url, redis_url, redis_client, run_asgi, tmp_path) -> Iterator[dict[str, str]]:
    factories.catalog(db)
    line_cfg = LineSandboxConfig()
    line_url = run_asgi(create_line_sandbox(line_cfg))
    ecpay_url = run_asgi(create_ecpay_sandbox(config=SandboxConfig(retry_intervals=(0.5,))))
    app = create_app()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # the cheapest supplier of the test catalog's pulsa, calling back to the API
    iak_url = run_asgi(
        iak.create_app(
            **IAK, callback_url=f"{base}/callbacks/iak", config=SimulatorConfig(callback_delay=0.3)
        )
    )
    run_asgi(app, port=port)
    supplier_env = {
        "IAK_USERNAME": IAK["username"],
        "IAK_API_KEY": IAK["api_key"],
        "IAK_PREPAID_URL": iak_url,
        "IAK_POSTPAID_URL": iak_url,
        "ECPAY_BASE_URL": ecpay_url,
    }
    settings = Settings(
        database_url="x",
        redis_url=redis_url,
        ESA_PUBLIC_URL=base,
        ecpay_base_url=ecpay_url,
        suppliers={
            "iak": IakSettings(
                username=IAK["username"], api_key=IAK["api_key"], prepaid_url=iak_url, postpaid_url=iak_url
            )
        },
    )
    worker_env = {
        **supplier_env,
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
        yield {"api": base, "line": line_url, "ecpay": ecpay_url, "app": app}


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); browser tests never download one")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("ESA_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"miniapp-{name}.png"), full_page=True)


def _payments(db) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(Payment)).scalar_one()


# what each language shows, so the test reads the page as a person of that language would
WORDS = {
    "id": {
        "bad_target": "Nomor HP Indonesia",
        "pay_again": "Bayar lagi",
        "declined": "tidak berhasil",
        "back": "Kembali ke ESA",
        "delivered": "Terkirim",
        "copy": "Salin",
        "paid_msg": "sudah kami terima",
        "delivered_msg": "sudah terkirim",
        "atm": "Transfer ATM",
        "refused": "Nomor tujuan ditolak",
        "card_back": "kartu kredit Anda dalam 7–14 hari",
        "not_delivered_msg": "tidak bisa dikirim",
        "refunded_msg": "sudah dikembalikan",
    },
    "en": {
        "bad_target": "not an Indonesian mobile number",
        "pay_again": "Pay again",
        "declined": "did not go through",
        "back": "Back to ESA",
        "delivered": "Delivered",
        "copy": "Copy",
        "paid_msg": "We received",
        "delivered_msg": "is delivered",
        "atm": "ATM transfer",
        "refused": "The operator refused the number",
        "card_back": "credit card within 7–14 days",
        "not_delivered_msg": "could not be delivered",
        "refunded_msg": "has been refunded",
    },
    "zh-Hant": {
        "bad_target": "印尼手機號碼",
        "pay_again": "再付一次",
        "declined": "付款未成功",
        "back": "返回 ESA",
        "delivered": "已完成",
        "copy": "複製",
        "paid_msg": "已收到",
        "delivered_msg": "已完成",
        "atm": "ATM 轉帳",
        "refused": "電信業者拒絕了這個號碼",
        "card_back": "7–14 天內退回您的信用卡",
        "not_delivered_msg": "無法完成",
        "refunded_msg": "已退款",
    },
}


def _line_messages(line_url: str, user_id: str) -> list[str]:
    import httpx

    pushes = httpx.get(f"{line_url}/_sandbox/messages", params={"to": user_id}).json()
    return [m["text"] for p in pushes for m in p["messages"] if m["type"] == "text"]


@pytest.mark.parametrize("lang", ["id", "en", "zh-Hant"])
def test_a_declined_card_then_a_second_attempt_on_the_same_order_delivers_in_the_customers_language(
    db, stack, browser, lang
):
    from playwright.sync_api import expect

    w = WORDS[lang]
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    expect(page.locator("#login")).to_have_text("Masuk dengan LINE")  # a new customer reads Bahasa Indonesia
    page.select_option("#lang", lang)
    _shot(page, f"{lang}-1-signin")

    # Given a customer who signs in through the LIFF stand-in (the LINE simulator's sign-in page)
    page.click("#login")
    page.get_by_role("button", name="Budi Santoso").click()
    expect(page.locator("#who")).to_have_text("Budi Santoso")
    with Session(db) as s:  # their choice is remembered on their customer row
        assert s.exec(select(Customer.language)).scalar_one() == lang

    # When they type a number that is not an Indonesian mobile number, they read why in their language
    page.click("[data-code=TSEL10]")
    page.fill("#target", "0212345678")
    page.click("#place-order")
    expect(page.locator("#target-error")).to_contain_text(w["bad_target"])
    assert "pattern" not in page.locator("#target-error").inner_text()
    assert _payments(db) == 0  # a rejected attempt writes nothing
    _shot(page, f"{lang}-2-invalid-target")

    page.fill("#target", "+62 812 3456 7890")
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")
    _shot(page, f"{lang}-3-order")

    # And their card is declined at ECPay (RtnCode 10100058): the result page, in their language, says so
    page.click("#pay")
    page.get_by_role("button", name="Fail").click()
    page.wait_for_url("**/ecpay/result/**")
    expect(page.locator("#problem")).to_contain_text(w["declined"], timeout=30_000)
    expect(page.locator("#back-to-app")).to_have_text(w["back"])
    _shot(page, f"{lang}-4-declined-result")

    # Back in the app, the order offers to pay again
    page.click("#back-to-app")
    expect(page.locator("#o-problem")).to_contain_text(w["declined"])
    expect(page.locator("#pay")).to_contain_text(w["pay_again"])
    first_ref = page.locator("#o-ref").inner_text()
    _shot(page, f"{lang}-5-pay-again")

    # Then the second attempt, under a new MerchantTradeNo (ECPay refuses a duplicate), is paid
    page.click("#pay")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/ecpay/result/**")
    _shot(page, f"{lang}-6-paid-result")
    page.click("#back-to-app")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SUCCESS", timeout=40_000)
    expect(page.locator("#order-status")).to_have_text(w["delivered"])
    expect(page.locator("#o-items .copy").first).to_have_text(w["copy"])
    assert page.locator("#o-ref").inner_text() != first_ref
    _shot(page, f"{lang}-7-delivered")

    with Session(db) as s:
        payment = s.exec(select(Payment)).scalars().one()
        checkouts = s.exec(select(PaymentCheckout).order_by(PaymentCheckout.id)).scalars().all()
        item = s.exec(select(PaymentItem)).scalars().one()
    assert payment.status == "SUCCESS" and item.status == "SUCCESS" and item.artifact
    assert [c.rtn_code for c in checkouts] == ["10100058", None]  # two hand-offs, the first declined
    assert payment.merchant_trade_no == checkouts[1].merchant_trade_no != checkouts[0].merchant_trade_no

    # And LINE told them, in their language, in one message (delivered within seconds of the payment): paid and
    # delivered, with the serial to copy
    user = "U4af4980629a0e8d1f1b4c1f0c2a1d002"
    deadline = time.monotonic() + 20
    while len(_line_messages(stack["line"], user)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(0.5)  # nothing more follows
    texts = _line_messages(stack["line"], user)
    assert len(texts) == 2, texts
    assert w["paid_msg"] in texts[0] and w["delivered_msg"] in texts[0] and item.artifact in texts[0]
    assert texts[1] == item.artifact  # the serial alone: a long press copies exactly it


@pytest.mark.parametrize("lang", ["id", "en", "zh-Hant"])
def test_an_atm_payment_code_appears_then_the_order_is_paid_and_delivered(db, stack, browser, lang):
    import httpx
    from playwright.sync_api import expect

    w = WORDS[lang]
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    page.select_option("#lang", lang)
    page.click("#login")
    page.get_by_role("button", name="Siti Rahmawati").click()
    page.click("[data-code=TSEL10]")
    page.fill("#target", "081234567890")
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")

    # The customer chooses an ATM transfer at ECPay: ECPay posts the virtual account to PaymentInfoURL
    page.click("#pay")
    page.get_by_role("button", name="ATM").click()
    page.get_by_role("link", name="Back to the shop").click()  # ECPay's ClientBackURL: our result page
    expect(page.locator("#payment-code")).to_contain_text("9103522", timeout=15_000)
    expect(page.locator("#payment-code")).to_contain_text("812")
    _shot(page, f"{lang}-atm-1-result-code")
    page.click("#back-to-app")
    expect(page.locator("#o-code")).to_contain_text(w["atm"])
    expect(page.locator("#copy-account")).to_have_text(w["copy"])
    expect(page.locator("#pay")).to_be_hidden()
    _shot(page, f"{lang}-atm-2-app-code")

    # Then they pay at an ATM: ECPay's ReturnURL says paid, the worker delivers, the app shows it
    with Session(db) as s:
        trade = s.exec(select(Payment.merchant_trade_no)).scalar_one()
    httpx.post(f"{stack['ecpay']}/_sandbox/trades/{trade}/pay")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "SUCCESS", timeout=40_000)
    expect(page.locator("#o-code")).to_be_hidden()
    _shot(page, f"{lang}-atm-3-delivered")
    user = "U4af4980629a0e8d1f1b4c1f0c2a1d003"
    deadline = time.monotonic() + 20
    while len(_line_messages(stack["line"], user)) < 4 and time.monotonic() < deadline:
        time.sleep(0.3)
    texts = _line_messages(stack["line"], user)
    assert w["atm"] in texts[0] and texts[1].startswith("9103522")  # the account alone, to copy
    assert w["paid_msg"] in texts[2] and w["delivered_msg"] in texts[2]  # paid and delivered: one message


@pytest.mark.parametrize("lang", ["id", "en", "zh-Hant"])
def test_a_refused_number_is_explained_with_when_the_money_comes_back(db, stack, browser, lang):
    from playwright.sync_api import expect

    w = WORDS[lang]
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    page.select_option("#lang", lang)
    page.click("#login")
    page.get_by_role("button", name="Mei-Ling Chen").click()
    page.click("[data-code=TSEL10]")
    page.fill("#target", "081234569901")  # the supplier simulator refuses this number (customer failure)
    page.click("#place-order")
    page.click("#pay")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url("**/ecpay/result/**")
    page.click("#back-to-app")
    expect(page.locator("#order-status")).to_have_attribute(
        "data-status", re.compile("FAILED|REFUND_PENDING|REFUNDED|NEEDS_REVIEW"), timeout=40_000
    )
    expect(page.locator("#o-items .reason")).to_contain_text(w["refused"])
    expect(page.locator("#o-refund")).to_contain_text(w["card_back"])
    badge = page.locator("#order-status")
    assert "green" not in (badge.get_attribute("class") or "")
    _shot(page, f"{lang}-refund-1-reason")
    user = "U4af4980629a0e8d1f1b4c1f0c2a1d001"
    deadline = time.monotonic() + 20
    while len(_line_messages(stack["line"], user)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    texts = _line_messages(stack["line"], user)
    # not delivered within seconds of paying: one message says both (paid, and why not), then the refund's
    assert w["paid_msg"] in texts[0] and w["not_delivered_msg"] in texts[0], texts
    assert w["refused"] in texts[0] and w["refunded_msg"] in texts[1], texts


def test_the_liff_sdk_is_served_from_our_own_bundle_never_a_cdn(stack, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    asked: list[str] = []
    page.route(
        "**/*",
        lambda route: (
            (asked.append(route.request.url), route.continue_())
            if route.request.url.startswith(("http://127.0.0.1", "data:"))
            else (asked.append(route.request.url), route.abort())
        ),
    )
    page.goto(stack["api"] + "/app/")
    page.wait_for_selector("#login")
    interface = page.evaluate(
        "['init', 'isLoggedIn', 'login', 'getIDToken', 'getLanguage', 'isInClient']"
        ".every((name) => typeof window.liff[name] === 'function')"
    )
    assert interface and page.evaluate("typeof window.liff.getVersion()") == "string"
    assert f"{stack['api']}/app/vendor/liff.js" in asked
    assert all(url.startswith(stack["api"]) or url.startswith("data:") for url in asked), asked


def test_a_rate_limited_poll_is_shown_and_waited_out_never_swallowed(db, stack, browser):
    from dataclasses import replace

    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.set_default_timeout(20_000)
    page.goto(stack["api"] + "/app/")
    page.select_option("#lang", "en")
    page.click("#login")
    page.get_by_role("button", name="Budi Santoso").click()
    page.click("[data-code=TSEL10]")
    page.fill("#target", "081234567890")
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "PENDING")

    # Given the customer has used up their requests for this minute
    app = stack["app"]
    app.state.customer_config = replace(app.state.customer_config, customer_per_window=1)
    # Then the next poll's 429 is shown with when it is tried again (Retry-After), not swallowed
    expect(page.locator("#o-poll-error")).to_contain_text("Too many requests", timeout=20_000)
    expect(page.locator("#o-poll-error")).to_contain_text(re.compile(r"again in \d+ s"))
    _shot(page, "429-shown")
