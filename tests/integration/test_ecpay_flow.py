"""ECPay end to end over HTTP: our API and the ECPay sandbox under uvicorn, real PostgreSQL, real Redis broker."""

from __future__ import annotations

import html
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from esa_api import create_app
from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import Alert, GatewayEvent, OutboxMessage, Payment, PaymentHistory
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.payments.accept import Verdict, check_payment
from sandbox.ecpay import SandboxConfig, create_ecpay_sandbox
from tests import factories
from workers.publisher import DramatiqPublisher

KEY, IV, MID = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "3002607"


@pytest.fixture
def stack(db, redis_url, redis_client, run_asgi):
    """The API and the ECPay sandbox on real ports, wired to each other."""
    sandbox = create_ecpay_sandbox(config=SandboxConfig(retry_intervals=(0.2, 0.2), default_delay_s=0.2))
    sandbox_url = run_asgi(sandbox)
    app = create_app()
    api_url = run_asgi(app)
    settings = Settings(
        database_url="x",
        redis_url=redis_url,
        ESA_PUBLIC_URL=api_url,
        ecpay_base_url=sandbox_url,
    )
    broker = RedisBroker(url=redis_url, namespace="esa")
    app.state.runtime = Runtime(settings, db, DramatiqPublisher(broker))
    return {"api": api_url, "sandbox": sandbox_url, "runtime": app.state.runtime, "redis": redis_client}


def _order(db, *, key="k1", lines=(OrderLine("TSEL10", "081234567890"), OrderLine("PLN20", "12345678901"))):
    if not _count(db, Payment):
        factories.catalog(db)
    cust = factories.customer(db, f"U-{key}")
    with UnitOfWork(db) as uow:
        return place_order(uow, OrderRequest(cust.id, key, lines))


def _count(db, model, *where) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).scalar_one()


def _status(db, payment_id) -> str:
    with Session(db) as s:
        return s.get(Payment, payment_id).status


def _notice(placed, **over) -> dict[str, str]:
    fields = {
        "MerchantID": MID,
        "MerchantTradeNo": placed.merchant_trade_no,
        "StoreID": "",
        "RtnCode": "1",
        "RtnMsg": "交易成功",
        "TradeNo": "2311230000123456",
        "TradeAmt": str(placed.amount_twd),
        "PaymentDate": "2026/11/23 20:00:00",
        "PaymentType": "Credit_CreditCard",
        "PaymentTypeChargeFee": "1",
        "TradeDate": "2026/11/23 19:59:00",
        "SimulatePaid": "0",
        "CustomField1": str(placed.payment_id),
        "CustomField2": "",
        "CustomField3": "",
        "CustomField4": "",
    }
    fields.update(over)
    fields["CheckMacValue"] = check_mac_value(fields, KEY, IV)
    return fields


def _fulfillment_messages(redis_client) -> int:
    return redis_client.hlen("esa:fulfillment.msgs")


def test_valid_notification_makes_the_payment_paid_once(db, stack):
    placed = _order(db)
    r = httpx.post(stack["api"] + "/ecpay/return", data=_notice(placed))
    assert (r.status_code, r.text) == (200, "1|OK")
    assert _status(db, placed.payment_id) == "PAID"
    again = httpx.post(stack["api"] + "/ecpay/return", data=_notice(placed, RtnMsg="paid"))
    assert (again.status_code, again.text) == (200, "1|OK")
    assert _count(db, PaymentHistory, PaymentHistory.to_status == "PAID") == 1
    assert _count(db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == 2
    assert _fulfillment_messages(stack["redis"]) == 2  # one per item, dispatched after commit
    with Session(db) as s:
        p = s.get(Payment, placed.payment_id)
        outcomes = [e.outcome for e in s.exec(select(GatewayEvent).order_by(GatewayEvent.id)).scalars()]
    assert (p.ecpay_trade_no, p.paid_amount_twd, p.payment_method) == (
        "2311230000123456",
        70,
        "Credit_CreditCard",
    )
    assert outcomes == ["accepted", "duplicate: already PAID"]


def test_fifty_concurrent_copies_make_one_transition_and_one_set_of_messages(db, stack):
    placed = _order(db)
    notice = _notice(placed)
    barrier = threading.Barrier(50)

    def send(_):
        barrier.wait()
        return httpx.post(stack["api"] + "/ecpay/return", data=notice, timeout=30).text

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(send, range(50)))
    assert answers == ["1|OK"] * 50
    assert _count(db, PaymentHistory, PaymentHistory.to_status == "PAID") == 1
    assert _count(db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == 2
    assert _fulfillment_messages(stack["redis"]) == 2
    assert _count(db, GatewayEvent) == 50


def _forged(placed):
    tampered = _notice(placed)
    tampered["TradeAmt"] = "1"  # changed after signing
    other_merchant = _notice(placed, MerchantID="2000132")
    missing = _notice(placed)
    del missing["RtnCode"]
    missing["CheckMacValue"] = check_mac_value(
        {k: v for k, v in missing.items() if k != "CheckMacValue"}, KEY, IV
    )
    return {
        "wrong CheckMacValue": {**_notice(placed), "CheckMacValue": "0" * 64},
        "tampered amount": tampered,
        "re-signed lower amount": _notice(placed, TradeAmt="1"),
        "another MerchantID": other_merchant,
        "missing RtnCode": missing,
        "no CheckMacValue": {k: v for k, v in _notice(placed).items() if k != "CheckMacValue"},
        "SimulatePaid=1": _notice(placed, SimulatePaid="1"),
        "unknown order": _notice(placed, MerchantTradeNo="EUNKNOWN0000000001"),
    }


FORGED_CASES = [
    "wrong CheckMacValue",
    "tampered amount",
    "re-signed lower amount",
    "another MerchantID",
    "missing RtnCode",
    "no CheckMacValue",
    "SimulatePaid=1",
    "unknown order",
]


@pytest.mark.parametrize("case", FORGED_CASES)
def test_forged_or_unshippable_notifications_change_nothing_and_stay_on_record(db, stack, case):
    placed = _order(db)
    r = httpx.post(stack["api"] + "/ecpay/return", data=_forged(placed)[case])
    if case == "SimulatePaid=1":
        assert r.text == "1|OK"  # acknowledged so ECPay stops re-sending; never shipped
    else:
        assert r.status_code == 400 and r.text.startswith("0|")
    assert _status(db, placed.payment_id) == "PENDING"
    assert _count(db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == 0
    with Session(db) as s:
        event = s.exec(select(GatewayEvent)).scalars().one()
    assert event.outcome.startswith("rejected")
    assert "CheckMacValue" not in (event.fields or {})  # signatures never stored
    if case in ("SimulatePaid=1", "re-signed lower amount"):
        assert _count(db, Alert) == 1


def test_database_failure_answers_an_error_so_ecpay_resends(db, stack, database_url):
    placed = _order(db)
    rt = stack["runtime"]
    broken = create_engine(database_url.rsplit("/", 1)[0] + "/no_such_database")
    rt.engine = broken
    try:
        r = httpx.post(stack["api"] + "/ecpay/return", data=_notice(placed))
    finally:
        rt.engine = db
    assert r.status_code == 500 and r.text.startswith("0|")
    assert _status(db, placed.payment_id) == "PENDING"


def test_a_notification_whose_handling_fails_is_kept_with_the_error_and_changes_nothing(db, stack, monkeypatch):
    from esa_domain.payments import accept as payments
    placed = _order(db)
    rt = stack["runtime"]
    accept = payments._accept

    def broken(*args, **kwargs):
        # fails after the payment was moved to PAID and its fulfillment rows written, in the same transaction
        accept(*args, **kwargs)
        raise RuntimeError("a bug in the middle of the handling")

    monkeypatch.setattr(payments, "_accept_at_once", lambda *a, **k: None)
    monkeypatch.setattr(payments, "_accept", broken)
    with pytest.raises(RuntimeError):
        payments.handle_notification(rt.uow, _notice(placed), rt.ecpay)
    # the work is rolled back: still PENDING, no fulfillment queued, no history beyond the order's own rows
    assert _status(db, placed.payment_id) == "PENDING"
    assert _count(db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == 0
    # and the notification is on record, with what went wrong
    with Session(db) as s:
        event = s.exec(select(GatewayEvent)).scalars().one()
    assert event.outcome == "error: RuntimeError" and event.verified is False
    assert event.merchant_trade_no == placed.merchant_trade_no


def _pay_in_browser(stack, placed, choice="pay"):
    """What a payer's browser does: our hand-off form -> ECPay's page -> a choice -> back to our result page."""
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        handoff = browser.get(f"{stack['api']}/ecpay/checkout/{placed.merchant_trade_no}")
        assert handoff.status_code == 200
        action = re.search(r'action="([^"]+)"', handoff.text).group(1)
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', handoff.text)}
        page = browser.post(action, data=fields)
        assert "pay" in page.text.lower() and page.status_code == 200
        choice_action = re.search(r'action="([^"]+)"', page.text).group(1)
        return browser.post(
            stack["sandbox"] + choice_action if choice_action.startswith("/") else choice_action,
            data={"choice": choice},
        )


def _wait_status(db, pid, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _status(db, pid) == status:
            return True
        time.sleep(0.05)
    return False


def test_payer_pays_on_the_sandbox_page_and_the_order_turns_paid(db, stack):
    placed = _order(db)
    result = _pay_in_browser(stack, placed)
    assert _wait_status(db, placed.payment_id, "PAID")
    assert result.status_code == 200  # the browser's return shows the order; it changed nothing by itself


def test_browser_return_alone_changes_nothing(db, stack):
    placed = _order(db)
    r = httpx.post(stack["api"] + "/ecpay/result", data=_notice(placed), follow_redirects=True)
    # the customer's language (Bahasa Indonesia for a new customer), and the way back into the app
    assert r.status_code == 200 and "Menunggu pembayaran Anda" in r.text and 'id="back-to-app"' in r.text
    assert _status(db, placed.payment_id) == "PENDING"


def test_dropped_notification_is_healed_by_the_query_path(db, stack):
    placed = _order(db)
    _pay_in_browser(stack, placed, choice="abandon")  # creates the trade at the sandbox
    httpx.post(f"{stack['sandbox']}/_sandbox/trades/{placed.merchant_trade_no}/pay", params={"mode": "never"})
    assert _status(db, placed.payment_id) == "PENDING"
    rt = stack["runtime"]
    with rt.ecpay.client() as client:
        verdict = check_payment(rt.uow, placed.payment_id, rt.ecpay, client)
    assert verdict is Verdict.ACCEPTED
    assert _status(db, placed.payment_id) == "PAID"
    assert _fulfillment_messages(stack["redis"]) == 2
    with Session(db) as s:
        cause = s.exec(select(PaymentHistory.cause).where(PaymentHistory.to_status == "PAID")).scalar_one()
    assert cause.startswith("ECPay query: paid NT$70")


def test_unpaid_past_its_window_is_expired_by_the_query_path(db, stack):
    placed = _order(db)
    _pay_in_browser(stack, placed, choice="abandon")
    rt = stack["runtime"]
    later = datetime.now(UTC) + timedelta(hours=1)
    with rt.ecpay.client() as client:
        early = check_payment(rt.uow, placed.payment_id, rt.ecpay, client)
        late = check_payment(rt.uow, placed.payment_id, rt.ecpay, client, now=later)
    assert (early, late) == (Verdict.NOT_PAID, Verdict.EXPIRED)
    assert _status(db, placed.payment_id) == "EXPIRED"


def test_throttled_query_backs_off_thirty_minutes(db, stack):
    placed = _order(db)
    # the sandbox answers 403 to every query when throttling is on
    httpx.post(f"{stack['sandbox']}/_sandbox/config", json={"throttle_queries": True})
    rt = stack["runtime"]
    with rt.ecpay.client() as client:
        check_payment(rt.uow, placed.payment_id, rt.ecpay, client)
    with Session(db) as s:
        nxt = s.get(Payment, placed.payment_id).next_query_at
    assert nxt is not None
    assert timedelta(minutes=29) < nxt - datetime.now(UTC) <= timedelta(minutes=30)


def test_checkout_form_is_signed_and_never_offers_cvs_for_games(db, stack):
    placed = _order(db, lines=(OrderLine("ML86", "12345678", zone="2001"),))
    page = httpx.get(f"{stack['api']}/ecpay/checkout/{placed.merchant_trade_no}").text
    assert 'name="IgnorePayment" value="CVS"' in page
    assert f'name="CustomField1" value="{placed.payment_id}"' in page
    assert f'name="ReturnURL" value="{stack["api"]}/ecpay/return"' in page
