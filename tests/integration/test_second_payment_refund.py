"""Two ECPay payments accepted for one order (the race of two attempts) end with one delivery and one refund:
over real HTTP (our API, the ECPay and LINE simulators under uvicorn, real PostgreSQL and Redis), each counted
from what the simulators carried out (ECPay's refund ledger, LINE's pushes), never from our record alone."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlmodel import Session

from esa_domain.core.states import ItemStatus
from esa_domain.core.transitions import transition_item
from esa_domain.models import Alert, CustomerMessage, OutboxMessage, Payment, PaymentHistory, Refund
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.operations.reconciliation import reconcile
from esa_domain.ordering import notify
from esa_domain.payments.accept import EcpayConfig
from esa_domain.payments.refunds import committed_twd, request_refund, send_refund
from esa_domain.payments.settlement import settle_payment
from tests.integration import test_customer_side as customer_side
from tests.integration.test_customer_side import IV, KEY, MID, USER

stack = customer_side.stack  # the fixture: our API, the ECPay and LINE simulators, a signed-in customer


def _count(db, model, *where) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).scalar_one()


def _to_ecpay(stack, reference: str) -> str:
    """Open a hand-off as the browser does and post its signed form to the ECPay sandbox; its MerchantTradeNo."""
    form = httpx.get(f"{stack.api}/ecpay/checkout/{reference}")
    assert form.status_code == 200, form.text
    fields = dict(re.findall(r'name="([A-Za-z0-9]+)" value="([^"]*)"', form.text))
    assert fields["ReturnURL"] == f"{stack.api}/ecpay/return"
    httpx.post(f"{stack.ecpay}/Cashier/AioCheckOut/V5", data=fields).raise_for_status()
    return fields["MerchantTradeNo"]


def _wait(check, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the simulators' notifications were not handled in time")


def _refunds(db) -> list[Refund]:
    with Session(db) as s:
        return list(s.exec(select(Refund).order_by(Refund.id)).scalars().all())


def _config(stack) -> EcpayConfig:
    return EcpayConfig(MID, KEY, IV, stack.ecpay, public_url=stack.api, credit_check_code="25012345")


def _send_messages(stack, order_id: int) -> None:
    with Session(stack.db) as s:
        ids = (
            s.exec(
                select(CustomerMessage.id)
                .where(CustomerMessage.payment_id == order_id)
                .order_by(CustomerMessage.id)
            )
            .scalars()
            .all()
        )
    for message_id in ids:
        notify.deliver(stack.uow, message_id, stack.pusher(), stack.api)


def test_two_paid_hand_offs_of_one_order_end_with_one_delivery_and_one_refund_of_the_second_trade(stack):
    httpx.put(f"{stack.api}/api/v1/me/language", json={"language": "en"}, headers=stack.auth)
    order = stack.order()
    first = _to_ecpay(stack, order["reference"])
    second = _to_ecpay(stack, first)  # "pay again" in a second tab: a new MerchantTradeNo
    assert first != second

    # Both tabs are paid at ECPay at once; the sandbox notifies our ReturnURL of each
    with ThreadPoolExecutor(2) as pool:
        for r in pool.map(lambda t: httpx.post(f"{stack.ecpay}/_sandbox/trades/{t}/pay"), (first, second)):
            r.raise_for_status()
    refunds = _wait(lambda: _refunds(stack.db) or None)
    trades = {t: httpx.get(f"{stack.ecpay}/_sandbox/trades/{t}").json() for t in (first, second)}

    # One accepted: PAID once, one fulfilment; the other trade has one refund of its own, queued to be sent
    with Session(stack.db) as s:
        payment = s.get(Payment, order["id"])
    accepted = payment.merchant_trade_no
    loser = second if accepted == first else first
    assert payment.ecpay_trade_no == trades[accepted]["trade_no"]
    assert _count(stack.db, PaymentHistory, PaymentHistory.to_status == "PAID") == 1
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == 1
    (refund,) = refunds
    assert (refund.status, refund.purpose, refund.method) == ("REQUESTED", "second_pay", "ecpay")
    assert (refund.merchant_trade_no, refund.trade_no) == (loser, trades[loser]["trade_no"])
    assert refund.amount_twd == order["amount_twd"]
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "send_refund") == 1

    # ECPay sends the loser's notice again: nothing more is written
    notices = httpx.get(f"{stack.ecpay}/_sandbox/notifications", params={"merchant_trade_no": loser}).json()
    assert notices
    again = httpx.post(f"{stack.api}/ecpay/return", data=notices[-1]["fields"])
    assert again.text == "1|OK"
    assert (
        len(_refunds(stack.db)) == 1
        and _count(stack.db, OutboxMessage, OutboxMessage.topic == "send_refund") == 1
    )

    # The worker carries it to ECPay (twice: a duplicate message changes nothing)
    client = _config(stack).client()
    assert send_refund(stack.uow, refund.id, _config(stack), client) == "CONFIRMED"
    assert send_refund(stack.uow, refund.id, _config(stack), client) == "CONFIRMED"
    ledger = httpx.get(f"{stack.ecpay}/_sandbox/refunds").json()
    assert [(r["merchant_trade_no"], r["trade_no"], r["amount"]) for r in ledger] == [
        (loser, trades[loser]["trade_no"], order["amount_twd"])
    ]

    # The order itself is delivered once, its own charge untouched by the second trade's refund
    item_id = order["items"][0]["id"]
    with stack.uow() as uow:
        transition_item(uow.session, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        transition_item(uow.session, item_id, ItemStatus.SUCCESS, cause="test", actor="test",
                        values={"artifact": "SN123456789"})  # fmt: skip
        settle_payment(uow.session, order["id"])
        uow.commit()
    with Session(stack.db) as s:
        payment = s.get(Payment, order["id"])
        assert (payment.status, payment.refunded_twd) == ("SUCCESS", 0)
        assert committed_twd(s, order["id"]) == 0  # the whole order can still be refunded by an operator
    assert _count(stack.db, Alert) == 0  # a card refund needs no person

    # The customer hears: paid once, delivered once, the second payment refunded once
    _send_messages(stack, order["id"])
    texts = [t[0] for t in stack.line_texts(USER)]
    assert sum("We received your" in t for t in texts) == 1
    assert sum("is delivered" in t for t in texts) == 1
    assert sum("has been refunded" in t for t in texts) == 1, texts


def test_an_operator_refund_of_the_order_is_not_held_up_by_the_second_trades_refund(stack):
    order = stack.order()
    first = stack.hand_off(order["reference"])
    second = stack.hand_off(first)
    assert stack.notice(first, order["amount_twd"]).text == "1|OK"
    assert stack.notice(second, order["amount_twd"], TradeNo="2312029999999999").text == "1|OK"
    (refund,) = _refunds(stack.db)
    assert (refund.merchant_trade_no, refund.trade_no, refund.status) == (
        second,
        "2312029999999999",
        "REQUESTED",
    )
    item_id = order["items"][0]["id"]
    with stack.uow() as uow:
        transition_item(uow.session, item_id, ItemStatus.PROCESSING, cause="test", actor="test")
        transition_item(uow.session, item_id, ItemStatus.SUCCESS, cause="test", actor="test")
        settle_payment(uow.session, order["id"])
        uow.commit()
    # the second trade's refund on its way does not count against the order's own charge
    with stack.uow() as uow:
        own = request_refund(uow.session, order["id"], order["amount_twd"], purpose="operator", reason="goodwill",
                             actor="operator:ana", public_url=stack.api)  # fmt: skip
        uow.commit()
    assert own is not None
    with Session(stack.db) as s:
        rows = s.exec(select(Refund.merchant_trade_no, Refund.amount_twd).order_by(Refund.id)).all()
        assert [tuple(r) for r in rows] == [(second, order["amount_twd"]), (None, order["amount_twd"])]


def test_an_offline_second_payment_becomes_an_operators_task(stack):
    order = stack.order()
    first = stack.hand_off(order["reference"])
    second = stack.hand_off(first)
    assert stack.notice(first, order["amount_twd"]).text == "1|OK"
    assert stack.notice(second, order["amount_twd"], PaymentType="CVS_CVS").text == "1|OK"
    (refund,) = _refunds(stack.db)
    assert (refund.method, refund.status, refund.merchant_trade_no) == ("manual", "MANUAL", second)
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "send_refund") == 0
    with Session(stack.db) as s:
        alert = s.exec(select(Alert).where(Alert.condition == "refund_manual")).scalars().one()
    assert second in alert.body and "by hand" in alert.body


def test_a_second_trades_refund_whose_answer_was_lost_is_confirmed_from_ecpays_record_never_sent_twice(stack):
    """The worker's DoAction for the second trade was made but its answer lost (as if the worker died after the
    call): after the grace, ECPay's record of *that* trade settles it; the order's own trade is never asked to
    refund and no second DoAction leaves."""
    order = stack.order()
    first = _to_ecpay(stack, order["reference"])
    second = _to_ecpay(stack, first)
    for trade in (first, second):
        httpx.post(f"{stack.ecpay}/_sandbox/trades/{trade}/pay").raise_for_status()
    (refund,) = _wait(lambda: _refunds(stack.db) or None)
    httpx.post(f"{stack.ecpay}/_sandbox/config", json={"do_action_answer": "drop"}).raise_for_status()
    client = _config(stack).client()
    assert send_refund(stack.uow, refund.id, _config(stack), client) == "SENT"  # made at ECPay, answer lost
    httpx.post(f"{stack.ecpay}/_sandbox/config", json={"do_action_answer": "normal"}).raise_for_status()
    # within the grace a duplicate message does nothing (a call may still be in flight)
    assert send_refund(stack.uow, refund.id, _config(stack), client) == "SENT"
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert send_refund(stack.uow, refund.id, _config(stack), client, now=later) == "CONFIRMED"
    ledger = httpx.get(f"{stack.ecpay}/_sandbox/refunds").json()
    assert [(r["merchant_trade_no"], r["amount"]) for r in ledger] == [
        (refund.merchant_trade_no, order["amount_twd"])
    ]
    with Session(stack.db) as s:
        payment = s.get(Payment, order["id"])
        assert refund.merchant_trade_no != payment.merchant_trade_no and payment.refunded_twd == 0
        assert s.get(Refund, refund.id).sends == 1


def test_two_paid_notices_racing_for_each_of_several_orders_accept_one_and_refund_the_other(stack):
    """ECPay's two notices of one order's two paid hand-offs arrive at the same moment, for several orders:
    whichever wins, each order is PAID once with one fulfilment, and the other trade has exactly one refund."""
    orders = []
    for _ in range(6):
        order = stack.order()
        first = stack.hand_off(order["reference"])
        second = stack.hand_off(first)
        orders.append((order, first, second))
    notices = [
        (trade, order["amount_twd"], f"23120{n}{k}00000000"[:16].ljust(16, "0"))
        for n, (order, first, second) in enumerate(orders)
        for k, trade in enumerate((first, second))
    ]
    with ThreadPoolExecutor(len(notices)) as pool:
        answers = list(pool.map(lambda n: stack.notice(n[0], n[1], TradeNo=n[2]).text, notices))
    assert answers == ["1|OK"] * len(notices)
    for order, first, second in orders:
        with Session(stack.db) as s:
            payment = s.get(Payment, order["id"])
            refunds = s.exec(select(Refund).where(Refund.payment_id == order["id"])).scalars().all()
        assert payment.status == "PAID" and payment.merchant_trade_no in (first, second)
        loser = second if payment.merchant_trade_no == first else first
        assert [(r.merchant_trade_no, r.status) for r in refunds] == [(loser, "REQUESTED")]
        assert _count(stack.db, PaymentHistory, PaymentHistory.payment_id == order["id"],
                      PaymentHistory.to_status == "PAID") == 1  # fmt: skip
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "fulfill_item") == len(orders)
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "send_refund") == len(orders)


def test_a_second_trades_refund_whose_message_was_lost_is_sent_by_the_reconciler_once(stack):
    """The notice's transaction committed the refund (REQUESTED) and its outbox row, then the process died
    before a worker took the message: reconciliation finds the refund still REQUESTED, dispatches it again,
    and it is made once at ECPay."""
    order = stack.order()
    first = _to_ecpay(stack, order["reference"])
    second = _to_ecpay(stack, first)
    for trade in (first, second):
        httpx.post(f"{stack.ecpay}/_sandbox/trades/{trade}/pay").raise_for_status()
    (refund,) = _wait(lambda: _refunds(stack.db) or None)
    later = datetime.now(UTC) + timedelta(minutes=5)
    config, client = _config(stack), _config(stack).client()
    counts = reconcile(stack.uow, config, client, now=later, policy=ReconcilePolicy())
    assert counts["refunds_redispatched"] == 1
    assert _count(stack.db, OutboxMessage, OutboxMessage.topic == "send_refund") == 2  # the first and again
    # both messages reach a worker: the refund leaves once
    assert send_refund(stack.uow, refund.id, config, client) == "CONFIRMED"
    assert send_refund(stack.uow, refund.id, config, client) == "CONFIRMED"
    ledger = httpx.get(f"{stack.ecpay}/_sandbox/refunds").json()
    assert [(r["merchant_trade_no"], r["amount"]) for r in ledger] == [
        (refund.merchant_trade_no, order["amount_twd"])
    ]
    again = reconcile(stack.uow, config, client, now=later + timedelta(minutes=5), policy=ReconcilePolicy())
    assert again["refunds_redispatched"] == 0
