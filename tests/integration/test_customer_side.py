"""The customer's side over real HTTP (our API, the ECPay and LINE simulators under uvicorn, real PostgreSQL and
Redis): paying again after a declined card under a new MerchantTradeNo, at most one accepted hand-off, what an
order tells the customer (why a payment failed, why an item failed, when a refund comes back, never "queued"
for an unpaid order), problems in the customer's words and language, the remembered language, and the LINE
messages: one per outcome, also when the worker died after the outcome's commit or LINE's answer was lost."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, select, text
from sqlmodel import Session

from esa_api import create_app
from esa_api.customer.config import CustomerApiConfig
from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.adapters.line.push import LinePusher
from esa_domain.core.states import ITEM, PAYMENT, ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.infra import outbox
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import Settings
from esa_domain.models import (
    Alert,
    Customer,
    CustomerMessage,
    ItemAttempt,
    OutboxMessage,
    Payment,
    PaymentCheckout,
    PaymentHistory,
)
from esa_domain.ordering import notify
from esa_domain.payments.settlement import settle_payment
from sandbox.ecpay import SandboxConfig, create_ecpay_sandbox
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories
from workers.publisher import DramatiqPublisher

KEY, IV, MID = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "3002607"  # ECPay's public stage merchant
PHONE = {"product_code": "TSEL10", "target": "081234567890"}
USER = "U-budi"


class Stack:
    def __init__(self, db, api: str, line: str, ecpay: str, app, line_cfg: LineSandboxConfig) -> None:
        self.db, self.api, self.line, self.ecpay, self.app, self.line_cfg = (
            db,
            api,
            line,
            ecpay,
            app,
            line_cfg,
        )
        self.auth: dict[str, str] = {}

    def sign_in(self, user: str = USER) -> dict[str, str]:
        token = httpx.post(f"{self.line}/_sandbox/id_tokens", json={"user_id": user, "name": "Budi"}).json()
        r = httpx.post(f"{self.api}/api/v1/auth/line", json={"id_token": token["id_token"]})
        assert r.status_code == 200, r.text
        self.auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self.auth

    def order(self, lang: str = "id") -> dict:
        headers = {**self.auth, "Idempotency-Key": str(uuid.uuid4()), "Accept-Language": lang}
        r = httpx.post(f"{self.api}/api/v1/orders", json={"items": [PHONE]}, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    def read(self, order_id: int, lang: str = "id") -> dict:
        r = httpx.get(f"{self.api}/api/v1/orders/{order_id}", headers={**self.auth, "Accept-Language": lang})
        assert r.status_code == 200, r.text
        return r.json()

    def hand_off(self, reference: str) -> str:
        """Open the checkout hand-off as the browser does; the MerchantTradeNo it sends ECPay."""
        r = httpx.get(f"{self.api}/ecpay/checkout/{reference}")
        assert r.status_code == 200, r.text
        return re.search(r'name="MerchantTradeNo" value="([A-Za-z0-9]+)"', r.text).group(1)  # type: ignore[union-attr]

    def notice(self, trade_no: str, amount: int, **over: str) -> httpx.Response:
        fields = {
            "MerchantID": MID,
            "MerchantTradeNo": trade_no,
            "StoreID": "",
            "RtnCode": "1",
            "RtnMsg": "交易成功",
            "TradeNo": "2312020000" + trade_no[-6:],
            "TradeAmt": str(amount),
            "PaymentDate": "2026/12/02 08:00:00",
            "PaymentType": "Credit_CreditCard",
            "PaymentTypeChargeFee": "1",
            "TradeDate": "2026/12/02 07:59:00",
            "SimulatePaid": "0",
            "CustomField1": "",
            "CustomField2": "",
            "CustomField3": "",
            "CustomField4": "",
            **over,
        }
        fields["CheckMacValue"] = check_mac_value(fields, KEY, IV)
        return httpx.post(f"{self.api}/ecpay/return", data=fields)

    def line_texts(self, user: str = USER) -> list[list[str]]:
        pushes = httpx.get(f"{self.line}/_sandbox/messages", params={"to": user}).json()
        return [[m["text"] for m in p["messages"]] for p in pushes]

    def pusher(self) -> LinePusher:
        return LinePusher(self.line_cfg.channel_access_token, base_url=self.line)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db)


@pytest.fixture
def stack(db, redis_url, redis_client, run_asgi) -> Stack:
    factories.catalog(db)
    line_cfg = LineSandboxConfig()
    line_url = run_asgi(create_line_sandbox(line_cfg))
    ecpay_url = run_asgi(
        create_ecpay_sandbox(config=SandboxConfig(retry_intervals=(0.2,), default_delay_s=0.2))
    )
    app = create_app()
    base = run_asgi(app)
    settings = Settings(database_url="x", redis_url=redis_url, ESA_PUBLIC_URL=base, ecpay_base_url=ecpay_url)
    app.state.runtime = Runtime(settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    app.state.customer_config = CustomerApiConfig(
        token_secret=b"c" * 32,
        line_channel_id=line_cfg.channel_id,
        line_login_base_url=line_url,
        public_url=base,
    )
    s = Stack(db, base, line_url, ecpay_url, app, line_cfg)
    s.sign_in()
    return s


def _count(db, model, *where) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).scalar_one()


def _payment(db, payment_id: int) -> Payment:
    with Session(db) as s:
        return s.get(Payment, payment_id)  # type: ignore[return-value]


# ---- no dead ends ------------------------------------------------------------------------------------------


def test_a_declined_card_is_explained_and_paying_again_hands_off_a_new_trade_number(stack):
    order = stack.order()
    first = stack.hand_off(order["reference"])
    assert first == order["reference"]  # the first hand-off uses the number the order was placed with

    # ECPay's verified answer for a declined card (RtnCode 10100058): acknowledged, kept on the hand-off
    r = stack.notice(first, order["amount_twd"], RtnCode="10100058", RtnMsg="授權失敗", PaymentDate="")
    assert (r.status_code, r.text) == (200, "1|OK")
    view = stack.read(order["id"])
    assert view["status"] == "PENDING" and view["checkout_url"]
    assert "Pembayaran tidak berhasil" in view["payment_problem"] and "10100058" in view["payment_problem"]
    assert "did not go through" in stack.read(order["id"], "en")["payment_problem"]

    # Paying again: a new MerchantTradeNo (ECPay refuses a duplicate), recorded, and it becomes the order's
    second = stack.hand_off(view["reference"])
    assert second != first and re.fullmatch(r"E\d{6}[A-Z0-9]{13}", second)
    assert _payment(stack.db, order["id"]).merchant_trade_no == second
    with Session(stack.db) as s:
        rows = s.exec(select(PaymentCheckout).order_by(PaymentCheckout.id)).scalars().all()
    assert [(c.merchant_trade_no, c.rtn_code) for c in rows] == [(first, "10100058"), (second, None)]

    # ECPay's real sandbox takes the new number (the old one would be "MerchantTradeNo is duplicate")
    form = httpx.get(f"{stack.api}/ecpay/checkout/{second}")  # a third hand-off: the second was handed off
    fields = dict(re.findall(r'name="([A-Za-z0-9]+)" value="([^"]*)"', form.text))
    page = httpx.post(f"{stack.ecpay}/Cashier/AioCheckOut/V5", data=fields)
    assert "duplicate" not in page.text.lower() and fields["MerchantTradeNo"] not in (first, second)
    assert fields["PaymentInfoURL"] == f"{stack.api}/ecpay/payment-info"

    # Then the latest hand-off is paid: accepted once, the problem gone, the customer told in LINE
    latest = fields["MerchantTradeNo"]
    assert stack.notice(latest, order["amount_twd"]).text == "1|OK"
    view = stack.read(order["id"])
    assert view["status"] in ("PAID", "SUCCESS") and view["payment_problem"] is None
    assert _count(stack.db, PaymentHistory, PaymentHistory.to_status == "PAID") == 1
    # "paid" is not a message of its own while delivery is quick: the delivered one says it
    assert _count(stack.db, CustomerMessage, CustomerMessage.kind == "paid") == 0


def test_an_earlier_hand_off_paid_after_all_is_accepted_and_a_second_paid_one_never_delivers_twice(stack):
    order = stack.order()
    first = stack.hand_off(order["reference"])
    second = stack.hand_off(first)
    amount = order["amount_twd"]

    # The customer paid the first tab after all: found through payment_checkouts, accepted, and its number
    # becomes the payment's trade (a refund names the trade that was paid)
    assert stack.notice(first, amount).text == "1|OK"
    p = _payment(stack.db, order["id"])
    assert (p.status, p.merchant_trade_no) == ("PAID", first)

    # And the second tab too (the race of two attempts): no second PAID, no second fulfilment, its own trade
    # refunded (tests/integration/test_second_payment_refund.py carries it to ECPay's sandbox)
    assert stack.notice(second, amount, TradeNo="2312029999999999").text == "1|OK"
    assert _count(stack.db, PaymentHistory, PaymentHistory.to_status == "PAID") == 1
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == 1
    with Session(stack.db) as s:
        refund = s.execute(text("SELECT merchant_trade_no, trade_no, status FROM refunds")).one()
    assert tuple(refund) == (second, "2312029999999999", "REQUESTED")
    assert _payment(stack.db, order["id"]).merchant_trade_no == first


def test_a_forged_decline_changes_nothing(stack):
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    fields = {"MerchantID": MID, "MerchantTradeNo": ref, "RtnCode": "10100058", "TradeAmt": "25",
              "CheckMacValue": "0" * 64}  # fmt: skip
    r = httpx.post(f"{stack.api}/ecpay/return", data=fields)
    assert r.status_code == 400
    assert stack.read(order["id"])["payment_problem"] is None
    with Session(stack.db) as s:
        assert s.exec(select(PaymentCheckout.rtn_code)).scalar_one() is None


def test_the_result_page_leads_back_into_the_app_and_offers_to_pay_again(stack):
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    stack.notice(ref, order["amount_twd"], RtnCode="10100058", RtnMsg="授權失敗")
    httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "zh-Hant"}, headers=stack.auth)
    page = httpx.get(f"{stack.api}/ecpay/result/{ref}")
    assert page.status_code == 200 and '<html lang="zh-Hant">' in page.text
    assert "付款未成功" in page.text and "再付一次" in page.text and "返回 ESA" in page.text
    assert f'href="{stack.api}/app/#order={order["id"]}"' in page.text
    assert 'http-equiv="refresh"' not in page.text  # nothing to wait for: no page that waits forever

    # An abandoned payment (no word from ECPay) looks again a few times, then says so and offers to pay again
    other = stack.order()
    ref2 = stack.hand_off(other["reference"])
    waiting = httpx.get(f"{stack.api}/ecpay/result/{ref2}?lang=en")
    assert 'http-equiv="refresh"' in waiting.text and "Checking your payment" in waiting.text
    given_up = httpx.get(f"{stack.api}/ecpay/result/{ref2}?lang=en&n=5")
    assert 'http-equiv="refresh"' not in given_up.text
    assert "not received your payment" in given_up.text and "Pay again" in given_up.text


def test_an_expired_orders_item_never_reads_queued_for_delivery(stack):
    order = stack.order()
    with stack.uow() as uow:
        transition_payment(
            uow.session, order["id"], PaymentStatus.EXPIRED, cause="test: window", actor="test"
        )
        uow.commit()
    view = stack.read(order["id"], "en")
    assert view["status_text"] == "Not paid in time"
    assert [i["status_text"] for i in view["items"]] == ["Not paid in time"]
    assert view["checkout_url"] is None


def _fail_paid_order(stack, order: dict, failure_class: str) -> None:
    with stack.uow() as uow:
        s = uow.session
        transition_payment(s, order["id"], PaymentStatus.PAID, cause="test: paid", actor="test",
                           values={"paid_at": datetime.now(UTC), "payment_method": "Credit_CreditCard"})  # fmt: skip
        item_id = order["items"][0]["id"]
        transition_item(s, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        supplier = s.execute(text("SELECT id FROM suppliers WHERE code = 'iak'")).scalar_one()
        s.add(ItemAttempt(item_id=item_id, supplier_id=supplier, reference=f"T{item_id}", state="FAILED",
                          failure_class=failure_class, cost_idr=1, cost_twd=0))  # fmt: skip
        transition_item(
            s, item_id, ItemStatus.FAILED, cause="test", actor="test", values={"failure_reason": "x"}
        )
        settle_payment(s, order["id"])
        uow.commit()


def test_a_failed_item_says_why_and_when_the_money_comes_back(stack):
    wrong_number, out_of_stock = stack.order(), stack.order()
    _fail_paid_order(stack, wrong_number, "customer")
    _fail_paid_order(stack, out_of_stock, "product")

    a, b = stack.read(wrong_number["id"], "en"), stack.read(out_of_stock["id"], "en")
    assert a["status"] == b["status"] == "FAILED"
    assert "refused the number" in a["items"][0]["failure_reason"]
    assert "out of stock" in b["items"][0]["failure_reason"]
    assert "credit card within 7–14 days" in a["refund_note"]
    assert "kartu kredit" in stack.read(wrong_number["id"], "id")["refund_note"]
    # REFUNDED has its own colour and words, never SUCCESS's green
    assert PAYMENT["REFUNDED"].colour != PAYMENT["SUCCESS"].colour
    assert PAYMENT.customer_text("REFUNDED", "en") != PAYMENT.customer_text("SUCCESS", "en")
    assert ITEM["FAILED"].colour != ITEM["SUCCESS"].colour


# ---- their language --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [("id", "Nomor tujuan"), ("en", "destination number"), ("zh-Hant", "目的號碼")],
)
def test_validation_problems_are_in_words_in_the_customers_language(stack, lang, words):
    body = {"items": [{"product_code": "TSEL10", "target": "0812\x013456"}]}
    r = httpx.post(f"{stack.api}/api/v1/quote", json=body, headers={**stack.auth, "Accept-Language": lang})
    problem = r.json()
    assert r.status_code == 422 and problem["field"] == "items[0].target"
    assert words in problem["detail"] and "pattern" not in problem["detail"]
    assert all("pattern" not in e["message"] for e in problem["errors"])


def test_a_wrong_number_is_explained_in_the_customers_language(stack):
    body = {"items": [{"product_code": "TSEL10", "target": "0212345678"}]}
    r = httpx.post(f"{stack.api}/api/v1/quote", json=body, headers={**stack.auth, "Accept-Language": "id"})
    assert r.status_code == 422 and "Nomor HP Indonesia" in r.json()["detail"]
    r = httpx.post(f"{stack.api}/api/v1/quote", json=body, headers={**stack.auth, "Accept-Language": "zh-TW"})
    assert "印尼手機號碼" in r.json()["detail"]


def test_the_language_is_the_customers_choice_and_is_remembered(stack):
    me = httpx.get(f"{stack.api}/api/v1/me", headers=stack.auth).json()
    assert me["language"] == "id"  # a new customer reads Bahasa Indonesia
    r = httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "zh-Hant"}, headers=stack.auth)
    assert r.status_code == 200 and r.json()["language"] == "zh-Hant"
    with Session(stack.db) as s:
        assert s.exec(select(Customer.language)).scalar_one() == "zh-Hant"
    again = stack.sign_in()  # a new sign-in finds it
    assert httpx.get(f"{stack.api}/api/v1/me", headers=again).json()["language"] == "zh-Hant"
    bad = httpx.put(
        f"{stack.api}/api/v1/me/language", json={"language": "fr"}, headers={**again, "Accept-Language": "en"}
    )
    assert bad.status_code == 422 and "Choose a language" in bad.json()["detail"]
    with Session(stack.db) as s:
        assert s.exec(select(Customer.language)).scalar_one() == "zh-Hant"  # nothing written


# ---- LINE messages ---------------------------------------------------------------------------------------


def _queued(db, payment_id: int, kind: str) -> CustomerMessage:
    with Session(db) as s:
        return (
            s.exec(
                select(CustomerMessage).where(
                    CustomerMessage.payment_id == payment_id, CustomerMessage.kind == kind
                )
            )
            .scalars()
            .one()
        )


def _told_paid_after_a_while(stack, order: dict) -> CustomerMessage:
    """The scheduler's minute tick, once the order has been paid longer than notify.PAID_ALONE_AFTER."""
    later = datetime.now(UTC) + notify.PAID_ALONE_AFTER + timedelta(seconds=1)
    with stack.uow() as uow:
        assert notify.queue_paid_for_slow_orders(uow.session, now=later) == 1
        uow.session.info.pop(outbox.OUTBOX_ROWS, None)  # as if the process died before dispatching
        uow.session.info.pop(outbox.OUTBOX_IDS, None)
        uow.commit()
    with stack.uow() as uow:  # the next tick finds it told already
        assert notify.queue_paid_for_slow_orders(uow.session, now=later) == 0
        uow.commit()
    return _queued(stack.db, order["id"], "paid")


def test_an_order_delivered_at_once_is_one_message_that_says_paid_and_what_was_delivered(stack):
    httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "en"}, headers=stack.auth)
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    assert stack.notice(ref, order["amount_twd"]).text == "1|OK"
    assert _count(stack.db, CustomerMessage) == 0  # accepting a payment writes no message
    item_id = order["items"][0]["id"]
    with stack.uow() as uow:
        s = uow.session
        transition_item(s, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        transition_item(
            s, item_id, ItemStatus.SUCCESS, cause="test", actor="test", values={"artifact": "SN555000111"}
        )
        settle_payment(s, order["id"])
        uow.commit()
    with stack.uow() as uow:  # settled before the tick: no "paid" message of its own any more
        assert (
            notify.queue_paid_for_slow_orders(uow.session, now=datetime.now(UTC) + timedelta(minutes=5)) == 0
        )
        uow.commit()
    delivered = _queued(stack.db, order["id"], "delivered")
    assert notify.deliver(stack.uow, delivered.id, stack.pusher(), stack.api) == "SENT"
    (texts,) = stack.line_texts()
    assert texts[0].startswith(f"We received your NT${order['amount_twd']} payment. Order #")
    assert "is delivered" in texts[0] and "SN555000111" in texts[0] and texts[1] == "SN555000111"


def test_one_line_message_per_outcome_in_the_customers_language_even_after_a_crash(stack):
    httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "en"}, headers=stack.auth)
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    assert stack.notice(ref, order["amount_twd"]).text == "1|OK"
    # a slow delivery: the customer hears "paid" on its own
    paid = _told_paid_after_a_while(stack, order)

    # Given a worker killed after the outcome's commit, before the message left: the outbox row is there
    with Session(stack.db) as s:
        row = s.exec(select(OutboxMessage).where(OutboxMessage.topic == "notify_customer")).scalars().one()
    assert row.payload == {"message_id": paid.id}

    # When it is delivered, and delivered again (the sweeper re-sends, a duplicate message arrives)
    assert notify.deliver(stack.uow, paid.id, stack.pusher(), stack.api) == "SENT"
    assert notify.deliver(stack.uow, paid.id, stack.pusher(), stack.api) == "SENT"
    texts = stack.line_texts()
    assert len(texts) == 1 and "We received your NT$25 payment for order" in texts[0][0]
    assert f"{stack.api}/app/#order={order['id']}" in texts[0][0]

    # The delivery, with its serial alone in a second text to copy; the settling step run twice writes it once
    item_id = order["items"][0]["id"]
    with stack.uow() as uow:
        s = uow.session
        transition_item(s, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        transition_item(
            s, item_id, ItemStatus.SUCCESS, cause="test", actor="test", values={"artifact": "SN123456789"}
        )
        settle_payment(s, order["id"])
        notify.queue_settled(s, order["id"], "SUCCESS")  # a re-run of the same step
        uow.commit()
    assert _count(stack.db, CustomerMessage, CustomerMessage.kind == "delivered") == 1
    delivered = _queued(stack.db, order["id"], "delivered")

    # LINE got an earlier try whose answer was lost: the retry key makes LINE answer 409, nothing twice
    stack.pusher().push_texts(USER, ["(an earlier try)"], retry_key=delivered.retry_key)
    assert notify.deliver(stack.uow, delivered.id, stack.pusher(), stack.api) == "SENT"
    texts = stack.line_texts()
    assert len(texts) == 2

    # And a fresh delivery message says it, with the serial to copy
    with stack.uow() as uow:
        uow.session.execute(
            text(
                "DELETE FROM customer_message_history WHERE message_id IN "
                "(SELECT id FROM customer_messages WHERE kind = 'delivered')"
            )
        )
        uow.session.execute(text("DELETE FROM customer_messages WHERE kind = 'delivered'"))
        uow.commit()
    with stack.uow() as uow:
        notify.queue_settled(uow.session, order["id"], "SUCCESS")
        uow.commit()
    fresh = _queued(stack.db, order["id"], "delivered")
    assert notify.deliver(stack.uow, fresh.id, stack.pusher(), stack.api) == "SENT"
    last = stack.line_texts()[-1]
    assert last[0].startswith("Order #")  # "paid" was its own message before
    assert "is delivered" in last[0] and "SN123456789" in last[0]
    assert last[1] == "SN123456789"


def test_a_failed_order_message_gives_the_reason_and_when_the_money_returns_in_indonesian(stack):
    order = stack.order()
    _fail_paid_order(stack, order, "customer")
    failed = _queued(stack.db, order["id"], "failed")
    assert notify.deliver(stack.uow, failed.id, stack.pusher(), stack.api) == "SENT"
    (texts,) = stack.line_texts()
    assert "tidak bisa dikirim" in texts[0] and "Nomor tujuan ditolak" in texts[0]
    assert "kartu kredit Anda dalam 7–14 hari" in texts[0]


def test_line_unavailable_keeps_the_message_queued_for_a_retry(stack):
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    stack.notice(ref, order["amount_twd"])
    paid = _told_paid_after_a_while(stack, order)
    httpx.post(f"{stack.line}/_sandbox/push_failures", json={"status": 500, "count": 1})
    from esa_domain.adapters.line.push import PushUnavailable

    with pytest.raises(PushUnavailable):
        notify.deliver(stack.uow, paid.id, stack.pusher(), stack.api)
    assert _queued(stack.db, order["id"], "paid").status == "QUEUED"
    assert notify.deliver(stack.uow, paid.id, stack.pusher(), stack.api) == "SENT"
    assert len(stack.line_texts()) == 1


def test_the_outbox_sweeper_sends_a_message_a_crash_left_behind(stack, redis_client):
    order = stack.order()
    with stack.uow() as uow:  # the outcome committed, its outbox row never dispatched (the process died)
        transition_payment(uow.session, order["id"], PaymentStatus.PAID, cause="test", actor="test",
                           values={"paid_at": datetime.now(UTC)})  # fmt: skip
        notify.queue(uow.session, order["id"], notify.PAID)
        uow.session.info.pop(outbox.OUTBOX_ROWS, None)
        uow.session.info.pop(outbox.OUTBOX_IDS, None)
        uow.commit()
    assert redis_client.hlen("esa:alerts.msgs") == 0
    sent = outbox.sweep(stack.db, stack.app.state.runtime.publisher, older_than=timedelta(0))
    assert sent >= 1 and redis_client.hlen("esa:alerts.msgs") == 1  # on its way to the notify_customer actor


# ---- offline methods: PaymentInfoURL ------------------------------------------------------------------------


def _signed(fields: dict[str, str]) -> dict[str, str]:
    return {**fields, "CheckMacValue": check_mac_value(fields, KEY, IV)}


def _atm_info(trade_no: str, amount: int, **over: str) -> dict[str, str]:
    # the fields of ECPay's 取號結果通知 for ATM (developers.ecpay.com.tw/?p=2881): RtnCode 2, BankCode, vAccount,
    # ExpireDate as yyyy/MM/dd
    return _signed({
        "MerchantID": MID, "MerchantTradeNo": trade_no, "StoreID": "", "RtnCode": "2",
        "RtnMsg": "Get VirtualAccount Succeeded", "TradeNo": "2312021530001234", "TradeAmt": str(amount),
        "PaymentType": "ATM_TAISHIN", "TradeDate": "2026/12/02 15:30:00", "BankCode": "812",
        "vAccount": "9103522850123", "ExpireDate": "2026/12/05", "CustomField1": "", "CustomField2": "",
        "CustomField3": "", "CustomField4": "", **over,
    })  # fmt: skip


def test_an_atm_payment_code_is_verified_stored_shown_and_sent_in_line(stack):
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    r = httpx.post(f"{stack.api}/ecpay/payment-info", data=_atm_info(ref, order["amount_twd"]))
    assert (r.status_code, r.text) == (200, "1|OK")

    view = stack.read(order["id"], "en")
    code = view["payment_code"]
    assert (code["bank_code"], code["v_account"], code["amount_twd"]) == ("812", "9103522850123", 25)
    assert code["method"] == "ATM transfer" and code["pay_by"].startswith("2026-12-05T15:59:59")
    assert view["status"] == "PENDING" and view["payment_problem"] is None
    # the window follows the method: the order waits until the code's deadline, not the card's 30 minutes
    assert _payment(stack.db, order["id"]).expires_at >= datetime(2026, 12, 5, 15, 59, 59, tzinfo=UTC)

    message = _queued(stack.db, order["id"], f"payment_code:{ref}")
    httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "id"}, headers=stack.auth)
    assert notify.deliver(stack.uow, message.id, stack.pusher(), stack.api) == "SENT"
    (texts,) = stack.line_texts()
    assert "Transfer ATM" in texts[0] and "NT$25" in texts[0] and "2026-12-05 23:59" in texts[0]
    assert "Kode bank: 812" in texts[0] and texts[1] == "9103522850123"

    # ECPay re-sends it: stored again, no second message
    assert httpx.post(f"{stack.api}/ecpay/payment-info", data=_atm_info(ref, 25)).text == "1|OK"
    assert _count(stack.db, CustomerMessage, CustomerMessage.kind.startswith("payment_code")) == 1

    # Then paid at the ATM (ReturnURL, RtnCode 1): paid, and the refund words for an offline payment
    assert stack.notice(ref, 25, PaymentType="ATM_TAISHIN").text == "1|OK"
    assert _payment(stack.db, order["id"]).status == "PAID"
    assert stack.read(order["id"], "en")["payment_code"] is None


def test_a_forged_or_mispriced_payment_code_changes_nothing(stack):
    order = stack.order()
    ref = stack.hand_off(order["reference"])
    forged = {**_atm_info(ref, 25), "vAccount": "9999999999999"}  # the signature no longer covers it
    assert httpx.post(f"{stack.api}/ecpay/payment-info", data=forged).status_code == 400
    assert httpx.post(f"{stack.api}/ecpay/payment-info", data=_atm_info(ref, 1)).status_code == 400
    assert stack.read(order["id"])["payment_code"] is None
    assert _count(stack.db, CustomerMessage) == 0
    with Session(stack.db) as s:
        assert s.exec(select(PaymentCheckout.v_account)).scalar_one() is None


def test_the_ecpay_sandbox_issues_a_cvs_code_to_payment_info_url_then_the_store_payment_is_accepted(stack):
    order = stack.order()
    form = httpx.get(f"{stack.api}/ecpay/checkout/{order['reference']}")
    fields = dict(re.findall(r'name="([A-Za-z0-9]+)" value="([^"]*)"', form.text))
    httpx.post(f"{stack.ecpay}/Cashier/AioCheckOut/V5", data=fields)
    trade = fields["MerchantTradeNo"]
    page = httpx.post(f"{stack.ecpay}/Cashier/SandboxChoice/{trade}", data={"choice": "cvs"})
    assert page.status_code == 200 and "Payment code issued" in page.text
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while stack.read(order["id"])["payment_code"] is None and datetime.now(UTC) < deadline:
        time.sleep(0.2)
    code = stack.read(order["id"], "zh-Hant")["payment_code"]
    assert code["method"] == "超商代碼繳費" and code["payment_no"].startswith("LLL22")
    httpx.post(f"{stack.ecpay}/_sandbox/trades/{trade}/pay")
    while _payment(stack.db, order["id"]).status == "PENDING" and datetime.now(UTC) < deadline:
        time.sleep(0.1)
    p = _payment(stack.db, order["id"])
    assert (p.status, p.payment_method) == ("PAID", "CVS_CVS")


def test_a_later_message_never_overtakes_an_earlier_one_of_the_same_order(stack):
    order = stack.order()
    _fail_paid_order(
        stack, order, "product"
    )  # failed, then a "paid" queued late: two messages, in that order
    with stack.uow() as uow:
        notify.queue(uow.session, order["id"], notify.PAID)
        uow.commit()
    failed = _queued(stack.db, order["id"], "failed")
    paid = _queued(stack.db, order["id"], "paid")
    assert failed.id < paid.id
    # the worker that got the later message first sends the earlier one before it
    assert notify.deliver(stack.uow, paid.id, stack.pusher(), stack.api) == "SENT"
    assert notify.deliver(stack.uow, failed.id, stack.pusher(), stack.api) == "SENT"  # nothing twice
    texts = [t[0] for t in stack.line_texts()]
    assert len(texts) == 2
    assert "tidak bisa dikirim" in texts[0] and "sudah kami terima" in texts[1]


def test_lines_monthly_limit_gives_the_message_up_and_tells_operators_once(stack):
    orders = [stack.order(), stack.order()]
    for order in orders:
        ref = stack.hand_off(order["reference"])
        stack.notice(ref, order["amount_twd"])
    with stack.uow() as uow:  # both still delivering a while later: each hears "paid"
        later = datetime.now(UTC) + notify.PAID_ALONE_AFTER + timedelta(seconds=1)
        assert notify.queue_paid_for_slow_orders(uow.session, now=later) == 2
        uow.session.info.pop(outbox.OUTBOX_ROWS, None)
        uow.session.info.pop(outbox.OUTBOX_IDS, None)
        uow.commit()
    first, second = (_queued(stack.db, o["id"], "paid") for o in orders)
    quota = {"Authorization": f"Bearer {stack.line_cfg.channel_access_token}"}
    httpx.post(f"{stack.line}/_sandbox/quota", json={"monthly_quota": 1})
    assert httpx.get(f"{stack.line}/v2/bot/message/quota", headers=quota).json() == {
        "type": "limited",
        "value": 1,
    }

    assert notify.deliver(stack.uow, first.id, stack.pusher(), stack.api) == "SENT"
    assert httpx.get(f"{stack.line}/v2/bot/message/quota/consumption", headers=quota).json() == {
        "totalUsage": 1
    }
    # the month's messages are used up: LINE answers 429 "You have reached your monthly limit."
    assert notify.deliver(stack.uow, second.id, stack.pusher(), stack.api) == "FAILED"
    assert notify.deliver(stack.uow, second.id, stack.pusher(), stack.api) == "FAILED"  # not retried for ever
    assert len(stack.line_texts()) == 1
    assert "monthly message limit" in _queued(stack.db, orders[1]["id"], "paid").error
    with Session(stack.db) as s:
        alerts = s.exec(select(Alert).where(Alert.condition == "line_quota")).scalars().all()
    assert len(alerts) == 1 and "1 customer messages were sent" in alerts[0].body
    assert stack.read(orders[1]["id"])["status"] == "PAID"  # the order page still says it


def test_a_payment_code_reminder_waits_for_its_time_and_is_skipped_once_paid(stack):
    waiting, paid = stack.order(), stack.order()
    refs = [stack.hand_off(o["reference"]) for o in (waiting, paid)]
    # ECPay's ATM deadline: the day after tomorrow or later, end of day in Taipei
    expire = (datetime.now(UTC) + timedelta(days=3)).astimezone(notify.TAIPEI).strftime("%Y/%m/%d")
    for ref in refs:
        r = httpx.post(f"{stack.api}/ecpay/payment-info", data=_atm_info(ref, 25, ExpireDate=expire))
        assert r.text == "1|OK"
    reminder = _queued(stack.db, waiting["id"], f"reminder:{refs[0]}")
    with Session(stack.db) as s:
        row = (
            s.exec(select(OutboxMessage).where(OutboxMessage.payload == {"message_id": reminder.id}))
            .scalars()
            .one()
        )
    deadline = datetime.strptime(expire, "%Y/%m/%d").replace(tzinfo=notify.TAIPEI) + timedelta(
        days=1, seconds=-1
    )
    assert row.available_at == deadline - notify.REMIND_BEFORE  # not before six hours ahead of the deadline

    assert notify.deliver(stack.uow, reminder.id, stack.pusher(), stack.api) == "SENT"
    texts = stack.line_texts()
    assert "Pengingat: pesanan" in texts[-1][0] and texts[-1][1].startswith("9103522850")

    assert stack.notice(refs[1], 25, PaymentType="ATM_TAISHIN").text == "1|OK"  # paid at the ATM meanwhile
    skipped = _queued(stack.db, paid["id"], f"reminder:{refs[1]}")
    code = _queued(stack.db, paid["id"], f"payment_code:{refs[1]}")
    assert notify.deliver(stack.uow, code.id, stack.pusher(), stack.api) == "SENT"
    before = len(stack.line_texts())
    assert notify.deliver(stack.uow, skipped.id, stack.pusher(), stack.api) == "SKIPPED"
    assert len(stack.line_texts()) == before


def test_a_pln_token_is_delivered_in_parts_in_the_app_and_in_line(stack):
    from esa_domain.adapters.suppliers.base import Delivery
    from esa_domain.fulfillment.delivery import store_delivery

    headers = {**stack.auth, "Idempotency-Key": str(uuid.uuid4())}
    r = httpx.post(f"{stack.api}/api/v1/orders", json={"items": [{"product_code": "PLN20", "target": "12345678901"}]},
                   headers=headers)  # fmt: skip
    order = r.json()
    ref = stack.hand_off(order["reference"])
    stack.notice(ref, order["amount_twd"])
    item_id = order["items"][0]["id"]
    token = "1234-5678-9012-3456-7890"
    with stack.uow() as uow:
        s = uow.session
        transition_item(s, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        store_delivery(s, item_id, None, Delivery(token=token, customer_name="BUDI SANTOSO", tariff="R1/1300VA",
                                                  kwh="14.5"))  # fmt: skip
        transition_item(
            s, item_id, ItemStatus.SUCCESS, cause="test", actor="test", values={"artifact": "SN1"}
        )
        settle_payment(s, order["id"])
        uow.commit()

    delivered = stack.read(order["id"], "en")["items"][0]["delivery"]
    assert (delivered["token"], delivered["customer_name"], delivered["tariff"], delivered["kwh"]) == (
        token, "BUDI SANTOSO", "R1/1300VA", "14.5",
    )  # fmt: skip
    message = _queued(stack.db, order["id"], "delivered")
    assert notify.deliver(stack.uow, message.id, stack.pusher(), stack.api) == "SENT"
    texts = stack.line_texts()[-1]
    assert f"Token listrik: {token}" in texts[0] and "Nama pelanggan: BUDI SANTOSO" in texts[0]
    assert "Tarif/Daya: R1/1300VA" in texts[0] and "kWh: 14.5" in texts[0]
    assert texts[1] == token  # the token alone, to copy into the meter app


def test_the_hand_off_to_ecpay_speaks_the_customers_language(stack):
    order = stack.order()
    httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "zh-Hant"}, headers=stack.auth)
    page = httpx.get(f"{stack.api}/ecpay/checkout/{order['reference']}")
    assert (
        page.status_code == 200
        and '<html lang="zh-Hant">' in page.text
        and "正在前往綠界付款頁面" in page.text
    )
    assert f'name="MerchantTradeNo" value="{order["reference"]}"' in page.text
    english = httpx.get(f"{stack.api}/ecpay/checkout/{order['reference']}?lang=en")
    assert "Taking you to ECPay" in english.text
    # an order that cannot be paid any more says so in their language, with the way back
    with stack.uow() as uow:
        transition_payment(uow.session, order["id"], PaymentStatus.EXPIRED, cause="test", actor="test")
        uow.commit()
    refused = httpx.get(f"{stack.api}/ecpay/checkout/{order['reference']}")
    assert (
        refused.status_code == 409 and "這筆訂單目前無法付款" in refused.text and "返回 ESA" in refused.text
    )
