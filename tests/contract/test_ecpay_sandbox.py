"""EcpayClient and the checkout flow against the ECPay simulator, over real HTTP on 127.0.0.1.

The simulator computes MACs with its own (PHP-SDK style) code, so agreement here is a real cross-check.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from esa_domain.adapters.ecpay import (
    EcpayClient,
    EcpayInvalidResponse,
    EcpayThrottled,
    EcpayUnavailable,
    Notification,
    build_checkout_fields,
    parse_notification,
    verify_check_mac_value,
)
from sandbox.ecpay import SandboxConfig, create_ecpay_sandbox

MERCHANT, KEY, IV = "3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"
CHECKOUT_PATH = "/Cashier/AioCheckOut/V5"


@dataclass
class Receiver:
    """Our side of ReturnURL: records every notification and answers from a script (then `1|OK`)."""

    url: str = ""
    answers: list[str] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/ecpay/return")
        async def ecpay_return(request: Request) -> PlainTextResponse:
            fields = {k: str(v) for k, v in (await request.form()).multi_items()}
            with self.lock:
                self.received.append(fields)
                answer = self.answers.pop(0) if self.answers else "1|OK"
            return PlainTextResponse(answer)

        return app

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    break
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


@pytest.fixture
def sandbox_url(run_asgi: Callable[[Any], str]) -> str:
    config = SandboxConfig(retry_intervals=(0.05, 0.05, 0.05, 0.05), default_delay_s=0.5, notify_timeout=2.0)
    return run_asgi(create_ecpay_sandbox(merchant_id=MERCHANT, hash_key=KEY, hash_iv=IV, config=config))


@pytest.fixture
def receiver(run_asgi: Callable[[Any], str]) -> Receiver:
    recv = Receiver()
    recv.url = run_asgi(recv.app()) + "/ecpay/return"
    return recv


@pytest.fixture
def client(sandbox_url: str) -> EcpayClient:
    return EcpayClient(sandbox_url, MERCHANT, KEY, IV, timeout=5.0)


def checkout_fields(trade_no: str, receiver: Receiver, amount: int = 150, **extra: Any) -> dict[str, str]:
    args: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "hash_key": KEY,
        "hash_iv": IV,
        "merchant_trade_no": trade_no,
        "trade_date": datetime.now(UTC),
        "total_amount": amount,
        "item_names": ["Mobile Legends 86 鑽石", "Telkomsel 50.000"],
        "trade_desc": "ESA 訂單 42",
        "return_url": receiver.url,
        "order_result_url": "https://esa.example/ecpay/result",
        "client_back_url": "https://esa.example/orders/42",
        "payment_id": 42,
        "choose_payment": "ALL",
        "contains_game_product": True,
    }
    return build_checkout_fields(**(args | extra))


def open_checkout(sandbox_url: str, fields: dict[str, str]) -> str:
    response = httpx.post(sandbox_url + CHECKOUT_PATH, data=fields)
    assert response.status_code == 200
    return response.text


def hidden_inputs(page: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def sandbox_pay(sandbox_url: str, trade_no: str, mode: str | None = None, action: str = "pay") -> None:
    params = {"mode": mode} if mode else {}
    httpx.post(f"{sandbox_url}/_sandbox/trades/{trade_no}/{action}", params=params).raise_for_status()


def parse(fields: dict[str, str]) -> Any:
    return parse_notification(fields, merchant_id=MERCHANT, hash_key=KEY, hash_iv=IV)


def test_payer_pays_on_checkout_page_and_our_receiver_gets_a_verified_notification(
    sandbox_url: str, receiver: Receiver
):
    # Given our signed checkout form posted by the browser
    page = open_checkout(sandbox_url, checkout_fields("ESAFLOW1", receiver))
    assert "NT$ 150" in page and "Mobile Legends 86 鑽石" in page and "except CVS" in page
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)

    # When the payer presses Pay
    result = httpx.post(sandbox_url + html.unescape(action), data={"choice": "pay"})

    # Then the browser is sent on to OrderResultURL with signed result fields
    assert 'action="https://esa.example/ecpay/result"' in result.text
    assert verify_check_mac_value(hidden_inputs(result.text), KEY, IV)
    # And ReturnURL receives a notification that verifies and says paid
    [fields] = receiver.wait_for(1)
    notice = parse(fields)
    assert isinstance(notice, Notification)
    assert notice.should_ship and notice.amount_twd == 150 and notice.custom_field1 == "42"
    assert notice.payment_type == "Credit_CreditCard" and fields["SimulatePaid"] == "0"
    assert {"CustomField2", "CustomField3", "CustomField4", "StoreID", "TradeDate"} <= set(fields)
    sent = httpx.get(f"{sandbox_url}/_sandbox/notifications").json()
    assert [n["acknowledged"] for n in sent] == [True]


def test_payer_fails_and_the_notification_is_not_paid(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    page = open_checkout(sandbox_url, checkout_fields("ESAFAIL1", receiver, order_result_url=None))
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    result = httpx.post(sandbox_url + action, data={"choice": "fail"})
    assert result.status_code == 303 and result.headers["location"] == "https://esa.example/orders/42"
    notice = parse(receiver.wait_for(1)[0])
    assert isinstance(notice, Notification) and not notice.paid
    assert client.query_trade("ESAFAIL1").status == "failed"


def test_abandoned_checkout_sends_nothing_and_stays_unpaid(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    page = open_checkout(sandbox_url, checkout_fields("ESAGONE1", receiver))
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    assert "abandoned" in httpx.post(sandbox_url + action, data={"choice": "abandon"}).text
    time.sleep(0.3)
    assert receiver.received == []
    assert client.query_trade("ESAGONE1").status == "unpaid"


def test_checkout_with_a_wrong_mac_gets_ecpays_error_page(sandbox_url: str, receiver: Receiver):
    fields = checkout_fields("ESABAD1", receiver)
    page = open_checkout(sandbox_url, {**fields, "TotalAmount": "1"})
    assert "CheckMacValue Error" in page
    assert httpx.get(f"{sandbox_url}/_sandbox/trades").json() == []


def test_same_merchant_trade_no_twice_is_refused(sandbox_url: str, receiver: Receiver):
    fields = checkout_fields("ESADUP1", receiver)
    open_checkout(sandbox_url, fields)
    assert "duplicate" in open_checkout(sandbox_url, fields)


def test_query_says_paid_unpaid_and_failed(sandbox_url: str, receiver: Receiver, client: EcpayClient):
    for trade_no in ("ESAQPAID", "ESAQOPEN", "ESAQFAIL", "ESAQEXP"):
        open_checkout(sandbox_url, checkout_fields(trade_no, receiver, amount=321))
    sandbox_pay(sandbox_url, "ESAQPAID", mode="never")
    sandbox_pay(sandbox_url, "ESAQFAIL", mode="never", action="fail")
    sandbox_pay(sandbox_url, "ESAQEXP", action="expire")

    paid = client.query_trade("ESAQPAID")
    assert (paid.status, paid.amount_twd, paid.payment_type) == ("paid", 321, "Credit_CreditCard")
    assert paid.trade_no and "CheckMacValue" not in paid.fields
    assert paid.fields["ItemName"] == "Mobile Legends 86 鑽石#Telkomsel 50.000"  # raw CJK and spaces verified
    assert client.query_trade("ESAQOPEN").status == "unpaid"
    assert client.query_trade("ESAQFAIL").status == "failed"
    assert client.query_trade("ESAQEXP").status == "failed"
    assert client.query_trade("ESANOSUCH").status == "unknown"


def test_query_with_a_stale_timestamp_is_refused(client: EcpayClient):
    with pytest.raises(EcpayInvalidResponse, match="TimeStamp"):
        client.query_trade("ESAANY", now=datetime.now(UTC) - timedelta(minutes=10))


def test_403_backs_off_30_minutes_without_calling_ecpay_again(sandbox_url: str, receiver: Receiver):
    open_checkout(sandbox_url, checkout_fields("ESATHR1", receiver))
    client = EcpayClient(sandbox_url, MERCHANT, KEY, IV)
    httpx.post(f"{sandbox_url}/_sandbox/config", json={"throttle_queries": True}).raise_for_status()
    now = datetime.now(UTC)

    with pytest.raises(EcpayThrottled) as first:
        client.query_trade("ESATHR1", now=now)
    assert first.value.retry_after == timedelta(minutes=30)
    assert client.throttled_until == now + timedelta(minutes=30)

    # Even with ECPay willing again, the client refuses until the back-off passed, without an HTTP call
    httpx.post(f"{sandbox_url}/_sandbox/config", json={"throttle_queries": False}).raise_for_status()
    queried_at = httpx.get(f"{sandbox_url}/_sandbox/trades/ESATHR1").json()["last_query"]
    with pytest.raises(EcpayThrottled) as again:
        client.query_trade("ESATHR1", now=now + timedelta(minutes=10))
    assert again.value.retry_after == timedelta(minutes=20)
    assert httpx.get(f"{sandbox_url}/_sandbox/trades/ESATHR1").json()["last_query"] == queried_at

    # A client given a back-off that has passed (persisted by the caller) queries again
    later = EcpayClient(
        sandbox_url, MERCHANT, KEY, IV, throttled_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert later.query_trade("ESATHR1").status == "unpaid"


def test_querying_one_trade_too_often_gets_403(sandbox_url: str, receiver: Receiver, client: EcpayClient):
    open_checkout(sandbox_url, checkout_fields("ESATHR2", receiver))
    httpx.post(f"{sandbox_url}/_sandbox/config", json={"query_min_interval_s": 60}).raise_for_status()
    client.query_trade("ESATHR2")
    with pytest.raises(EcpayThrottled):
        client.query_trade("ESATHR2")


def test_refund_up_to_the_paid_amount_and_never_beyond(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    open_checkout(sandbox_url, checkout_fields("ESAREF1", receiver, amount=150))
    sandbox_pay(sandbox_url, "ESAREF1", mode="never")
    trade_no = client.query_trade("ESAREF1").trade_no

    first = client.do_action("ESAREF1", trade_no, "R", 100)
    assert first.ok and first.rtn_code == "1"
    too_much = client.do_action("ESAREF1", trade_no, "R", 60)
    assert not too_much.ok and "exceeds" in too_much.rtn_msg
    assert client.do_action("ESAREF1", trade_no, "R", 50).ok
    assert httpx.get(f"{sandbox_url}/_sandbox/trades/ESAREF1").json()["refunded"] == 150


def test_refund_with_the_wrong_trade_no_is_refused(sandbox_url: str, receiver: Receiver, client: EcpayClient):
    open_checkout(sandbox_url, checkout_fields("ESAREF2", receiver))
    sandbox_pay(sandbox_url, "ESAREF2", mode="never")
    assert not client.do_action("ESAREF2", "0000000000000000", "R", 10).ok


def test_void_of_an_unpaid_trade_is_refused_and_of_a_paid_one_accepted(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    open_checkout(sandbox_url, checkout_fields("ESAVOID1", receiver))
    trade_no = httpx.get(f"{sandbox_url}/_sandbox/trades/ESAVOID1").json()["trade_no"]
    assert not client.do_action("ESAVOID1", trade_no, "N", 150).ok
    sandbox_pay(sandbox_url, "ESAVOID1", mode="never")
    assert client.do_action("ESAVOID1", trade_no, "N", 150).ok


def test_notification_is_resent_until_the_merchant_answers_exactly_1_ok(sandbox_url: str, receiver: Receiver):
    receiver.answers = ["OK", "1|ok"]
    open_checkout(sandbox_url, checkout_fields("ESARETRY", receiver))
    sandbox_pay(sandbox_url, "ESARETRY")
    received = receiver.wait_for(3)
    time.sleep(0.3)  # no fourth once acknowledged
    assert len(receiver.received) == 3
    assert all(isinstance(parse(f), Notification) for f in received)
    assert received[0]["RtnMsg"] != received[1]["RtnMsg"]  # re-sends say something else: key off RtnCode
    sent = httpx.get(f"{sandbox_url}/_sandbox/notifications", params={"merchant_trade_no": "ESARETRY"}).json()
    assert [(n["answer"], n["acknowledged"]) for n in sent] == [
        ("OK", False),
        ("1|ok", False),
        ("1|OK", True),
    ]


def test_twice_mode_delivers_the_same_payment_two_times(sandbox_url: str, receiver: Receiver):
    open_checkout(sandbox_url, checkout_fields("ESATWICE", receiver))
    sandbox_pay(sandbox_url, "ESATWICE", mode="twice")
    first, second = (parse(f) for f in receiver.wait_for(2))
    assert first == second and first.paid


def test_out_of_order_mode_sends_a_stale_failure_after_the_payment(sandbox_url: str, receiver: Receiver):
    open_checkout(sandbox_url, checkout_fields("ESAOOO1", receiver))
    sandbox_pay(sandbox_url, "ESAOOO1", mode="out_of_order")
    first, second = (parse(f) for f in receiver.wait_for(2))
    assert first.paid and not second.paid and second.rtn_code != 1


def test_late_mode_delivers_after_the_delay(sandbox_url: str, receiver: Receiver):
    open_checkout(sandbox_url, checkout_fields("ESALATE1", receiver))
    started = time.monotonic()
    sandbox_pay(sandbox_url, "ESALATE1", mode="late")
    assert receiver.wait_for(1, timeout_s=0.2) == []
    assert len(receiver.wait_for(1)) == 1
    assert time.monotonic() - started >= 0.5


def test_never_mode_sends_nothing_yet_the_query_says_paid(
    sandbox_url: str, receiver: Receiver, client: EcpayClient
):
    open_checkout(sandbox_url, checkout_fields("ESANEVER", receiver))
    httpx.put(f"{sandbox_url}/_sandbox/trades/ESANEVER/delivery", params={"mode": "never"}).raise_for_status()
    sandbox_pay(sandbox_url, "ESANEVER")
    time.sleep(0.3)
    assert receiver.received == []
    assert client.query_trade("ESANEVER").status == "paid"


def test_unreachable_ecpay_raises_unavailable():
    client = EcpayClient(
        "http://127.0.0.1:9", MERCHANT, KEY, IV, timeout=1.0
    )  # discard port: nothing listens
    with pytest.raises(EcpayUnavailable):
        client.query_trade("ESAANY")
    with pytest.raises(EcpayUnavailable):
        client.do_action("ESAANY", "1", "R", 1)


def test_client_keys_never_appear_in_its_repr_or_errors(sandbox_url: str):
    client = EcpayClient(sandbox_url, MERCHANT, KEY, IV)
    assert KEY not in repr(client) and IV not in repr(client)
    wrong = EcpayClient(sandbox_url, MERCHANT, "wrongkeywrongkey", "wrongivwrongivxx")
    with pytest.raises(EcpayInvalidResponse) as error:
        wrong.query_trade("ESAANY")
    assert "wrongkey" not in str(error.value)
