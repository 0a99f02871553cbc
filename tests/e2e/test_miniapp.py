"""The demo Mini App in a real browser (Debian's chromium): LINE sign-in, catalog, a rejected target, an
order, ECPay's sandbox page through the hand-off, and the order turning PAID, then delivered by a real worker
process buying from the IAK simulator, while the app watches it.
Set ESA_SCREENSHOT_DIR to keep screenshots of each step.
"""

from __future__ import annotations

import os
import re
import shutil
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
from esa_domain.models import Payment, PaymentItem
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
        yield {"api": base, "line": line_url, "ecpay": ecpay_url}


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


def test_customer_signs_in_orders_pays_on_ecpay_and_sees_the_order_delivered(db, stack, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(stack["api"] + "/app/")
    _shot(page, "1-signin")

    # Given a customer who logs in through the LINE sandbox
    page.click("#login")
    page.get_by_role("button", name="Budi Santoso").click()
    expect(page.locator("#who")).to_have_text("Budi Santoso")
    expect(page.locator("#products .item").first).to_be_visible()
    _shot(page, "2-catalog")

    # When they pick Telkomsel pulsa and type a number that is not Indonesian mobile
    page.click("[data-code=TSEL10]")
    page.fill("#target", "0212345678")
    page.click("#place-order")
    expect(page.locator("#target-error")).to_contain_text("not an Indonesian mobile number")
    assert _payments(db) == 0  # a rejected attempt writes nothing
    _shot(page, "3-invalid-target")

    # Then fix it and place the order
    page.fill("#target", "+62 812 3456 7890")
    page.click("#place-order")
    expect(page.locator("#order-status")).to_have_text("PENDING")
    expect(page.locator("#o-items")).to_contain_text("To 081234567890")
    assert _payments(db) == 1
    _shot(page, "4-order")

    # And pay on the ECPay sandbox page the hand-off opens
    with page.expect_popup() as popup_info:
        page.click("#pay")
    ecpay = popup_info.value
    ecpay.get_by_role("button", name="Pay").click()
    ecpay.wait_for_url("**/ecpay/result/**")

    # The Mini App, still open, sees the order paid, then delivered by the worker, by polling
    expect(page.locator("#order-status")).to_have_text(re.compile("PAID|SUCCESS"), timeout=15_000)
    expect(page.locator("#pay")).to_be_hidden()
    _shot(page, "5-paid")
    expect(page.locator("#order-status")).to_have_text("SUCCESS", timeout=30_000)
    _shot(page, "6-delivered")
    with Session(db) as s:
        assert s.exec(select(Payment.status)).scalar_one() == "SUCCESS"
        item = s.exec(select(PaymentItem)).scalars().one()
    assert item.status == "SUCCESS" and item.artifact  # IAK's serial number
