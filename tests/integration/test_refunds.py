"""Refunds, a lifecycle of their own, against the ECPay sandbox over real HTTP, on real PostgreSQL: each counted
from the sandbox's refund ledger (what ECPay carried out), never from our own record alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from sqlmodel import Session, func, select

from esa_domain.adapters.ecpay import EcpayClient, build_checkout_fields
from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import (
    Alert,
    GatewayEvent,
    OperatorAction,
    OutboxMessage,
    Payment,
    PaymentHistory,
    PaymentItem,
    Refund,
    RefundHistory,
)
from esa_domain.operations.actions import ActionRefused, complete_refund, record_bank_details, refund
from esa_domain.operations.operators import create_operator
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.operations.reconciliation import reconcile
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.payments.accept import EcpayConfig
from esa_domain.payments.refunds import refund_payment, send_refund
from esa_domain.payments.settlement import finish_payment_if_done
from esa_domain.views import stuck
from esa_domain.views.timeline import order_timeline
from sandbox.ecpay import create_ecpay_sandbox
from tests import factories
from tests.servers import free_port

MID, KEY, IV = "3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"


def _config(base_url: str) -> EcpayConfig:
    return EcpayConfig(MID, KEY, IV, base_url, public_url="https://esa.example", credit_check_code="25012345")


@pytest.fixture
def sandbox_url(run_asgi) -> str:
    return run_asgi(create_ecpay_sandbox(merchant_id=MID, hash_key=KEY, hash_iv=IV))


def _uow(db):
    return lambda: UnitOfWork(db)


def _paid_order(db, sandbox_url: str | None, *, promo: bool = False, method: str = "Credit_CreditCard"):
    """An order of TSEL10 (NT$25) + PLN20 (NT$45), paid at ECPay (the sandbox) and marked PAID here."""
    factories.catalog(db)
    if promo:
        factories.promo(db)  # 10 % off: NT$70 -> NT$63
    cust = factories.customer(db)
    lines = (OrderLine("TSEL10", "081234567890"), OrderLine("PLN20", "12345678901"))
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, "k1", lines, "HEMAT10" if promo else None))
    trade_no = "2401010000000001"
    if sandbox_url:
        fields = build_checkout_fields(
            merchant_id=MID,
            hash_key=KEY,
            hash_iv=IV,
            merchant_trade_no=placed.merchant_trade_no,
            trade_date=datetime.now(UTC),
            total_amount=placed.amount_twd,
            item_names=["Telkomsel 10.000", "PLN 20.000"],
            trade_desc="ESA",
            return_url="http://127.0.0.1:9/ecpay/return",  # nobody listens: the payment is marked PAID below
            order_result_url=None,
            client_back_url=None,
            payment_id=placed.payment_id,
            choose_payment="Credit",
            contains_game_product=False,
        )
        httpx.post(sandbox_url + "/Cashier/AioCheckOut/V5", data=fields).raise_for_status()
        trade = f"{sandbox_url}/_sandbox/trades/{placed.merchant_trade_no}"
        httpx.post(trade + "/pay", params={"mode": "never"}).raise_for_status()
        trade_no = httpx.get(trade).json()["trade_no"]
    with Session(db) as s:
        transition_payment(
            s,
            placed.payment_id,
            PaymentStatus.PAID,
            cause="test: paid",
            actor="ecpay",
            values={
                "ecpay_trade_no": trade_no,
                "payment_method": method,
                "paid_amount_twd": placed.amount_twd,
            },
        )
        s.commit()
    return placed


def _finish_items(db, payment_id: int, outcomes: dict[str, ItemStatus]) -> str:
    """Deliver or fail each item by product code, then settle the payment as fulfillment would."""
    with Session(db) as s:
        items = s.exec(select(PaymentItem).where(PaymentItem.payment_id == payment_id)).all()
        for item in items:
            code = "TSEL10" if item.price_twd == 25 else "PLN20"
            transition_item(s, item.id, ItemStatus.PROCESSING, cause="test", actor="test")
            transition_item(s, item.id, outcomes[code], cause="test", actor="test")
        result = finish_payment_if_done(s, payment_id, public_url="https://esa.example")
        s.commit()
        return result.current


def _payment(db, payment_id: int) -> Payment:
    with Session(db) as s:
        return s.get(Payment, payment_id)


def _sandbox_trade(sandbox_url: str, merchant_trade_no: str) -> dict:
    return httpx.get(f"{sandbox_url}/_sandbox/trades/{merchant_trade_no}").json()


def _events(db, payment_id: int) -> list[GatewayEvent]:
    with Session(db) as s:
        q = select(GatewayEvent).where(GatewayEvent.payment_id == payment_id, GatewayEvent.kind == "refund")
        return list(s.exec(q.order_by(GatewayEvent.id)).all())


def _alerts(db) -> list[str]:
    with Session(db) as s:
        return [a.condition for a in s.exec(select(Alert).order_by(Alert.id)).all()]


def _count(db, model, *where) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def _refunds(db, payment_id: int) -> list[Refund]:
    with Session(db) as s:
        return list(s.exec(select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.id)).all())


def _ledger(sandbox_url: str, merchant_trade_no: str) -> list[tuple[str, int]]:
    """What ECPay (the sandbox) carried out for this trade: one (action, amount) per refund or void."""
    return [(r["action"], r["amount"]) for r in _sandbox_trade(sandbox_url, merchant_trade_no)["refunds"]]


def _send_requested(db, payment_id: int, config: EcpayConfig, client: EcpayClient, **kw) -> list[str]:
    """What the send_refund worker does with each message of this payment's refunds."""
    return [send_refund(_uow(db), r.id, config, client, **kw) for r in _refunds(db, payment_id)]


def _refund_history(db, refund_id: int) -> list[tuple[str | None, str]]:
    with Session(db) as s:
        q = select(RefundHistory).where(RefundHistory.refund_id == refund_id).order_by(RefundHistory.id)
        return [(h.from_status, h.to_status) for h in s.exec(q).all()]


def _operator(db, name: str = "ops", role: str = "operator"):
    with Session(db) as s:
        op = create_operator(s, name, "a-long-password", role)
        s.commit()
        s.refresh(op)
        return op


def _sandbox_config(sandbox_url: str, **changes) -> None:
    httpx.post(f"{sandbox_url}/_sandbox/config", json=changes).raise_for_status()


def test_failed_card_payment_is_refunded_in_full_once_and_duplicate_messages_do_nothing(db, sandbox_url):
    # Given a paid card order whose items both failed
    placed = _paid_order(db, sandbox_url)
    assert (
        _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
        == "FAILED"
    )
    assert _count(db, OutboxMessage, OutboxMessage.topic == "refund_payment") == 1
    client, config = EcpayClient(sandbox_url, MID, KEY, IV), _config(sandbox_url)
    # When the refund message is handled twice, and the send message of its refund twice
    assert refund_payment(_uow(db), placed.payment_id, config) == "REFUND_PENDING"
    assert refund_payment(_uow(db), placed.payment_id, config) == "REFUND_PENDING"
    (requested,) = _refunds(db, placed.payment_id)
    assert (requested.status, requested.purpose, requested.sequence, requested.amount_twd) == (
        "REQUESTED", "undelivered", 1, 70,
    )  # fmt: skip
    assert _count(db, OutboxMessage, OutboxMessage.topic == "send_refund") == 1
    assert _send_requested(db, placed.payment_id, config, client) == ["CONFIRMED"]
    assert _send_requested(db, placed.payment_id, config, client) == ["CONFIRMED"]
    # Then ECPay refunded the whole amount once, and the record says so
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 70)]
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 70)
    assert _refund_history(db, requested.id) == [
        (None, "REQUESTED"),
        ("REQUESTED", "SENT"),
        ("SENT", "CONFIRMED"),
    ]
    events = _events(db, placed.payment_id)
    assert [e.outcome for e in events] == ["ok: RtnCode 1 OK"]
    assert events[0].fields["request"] == {
        "Action": "R",
        "TotalAmount": "70",
        "TradeNo": events[0].fields["answer"]["TradeNo"],
    }
    assert "CheckMacValue" not in events[0].fields["answer"]
    assert _count(db, PaymentHistory, PaymentHistory.to_status == "REFUNDED") == 1
    assert _alerts(db) == []


def test_partial_payment_refunds_the_failed_items_share_of_the_discounted_charge_rounded_up(db, sandbox_url):
    # Given NT$70 of goods charged NT$63 after 10 % off, and the NT$45 PLN token failed
    placed = _paid_order(db, sandbox_url, promo=True)
    assert placed.amount_twd == 63
    assert (
        _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED})
        == "PARTIAL"
    )
    # When it is refunded
    config = _config(sandbox_url)
    refund_payment(_uow(db), placed.payment_id, config)
    assert _send_requested(db, placed.payment_id, config, EcpayClient(sandbox_url, MID, KEY, IV)) == [
        "CONFIRMED"
    ]
    # Then the customer gets 63 * 45 / 70 = 40.5 -> NT$41 back (never less than their share), once
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 41)
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 41)]


def test_refused_refund_and_void_fail_the_refund_and_an_operator_finishes_it_by_hand(db, sandbox_url):
    # Given a failed card order that was already partly refunded in ECPay's back office
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    client, config = EcpayClient(sandbox_url, MID, KEY, IV), _config(sandbox_url)
    trade_no = _payment(db, placed.payment_id).ecpay_trade_no
    assert client.do_action(placed.merchant_trade_no, trade_no, "R", 10).ok
    # When we refund it
    refund_payment(_uow(db), placed.payment_id, config)
    # Then R (exceeds what is left) and the void N (refunds exist) are refused: an operator decides
    assert _send_requested(db, placed.payment_id, config, client) == ["FAILED"]
    assert [e.outcome for e in _events(db, placed.payment_id)] == [
        "refused: RtnCode 10200061 Refund amount exceeds the paid amount",
        "refused: RtnCode 10200062 Cannot void a trade with refunds",
    ]
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 10)]
    assert _alerts(db) == ["refund_refused"]
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("NEEDS_REVIEW", 0)
    # And an operator who refunded the NT$70 by hand marks it done with the transfer's reference
    (failed,) = _refunds(db, placed.payment_id)
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="reference"):
        complete_refund(uow, _operator(db), failed.id, "  ")
    with UnitOfWork(db) as uow:
        assert complete_refund(uow, _operator(db, "ops2"), failed.id, "BANK-TRF-0042") == "CONFIRMED"
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 70)
    assert _refund_history(db, failed.id)[-3:] == [
        ("SENT", "FAILED"),
        ("FAILED", "MANUAL"),
        ("MANUAL", "CONFIRMED"),
    ]
    assert _refunds(db, placed.payment_id)[0].reference == "BANK-TRF-0042"
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 10)]  # nothing more through ECPay


def _before_daily_close() -> FastAPI:
    """ECPay for a trade authorised today, not yet closed: R is refused, N voids the authorisation."""
    app = FastAPI()
    app.state.actions = []

    @app.post("/CreditDetail/DoAction")
    async def do_action(request: Request) -> PlainTextResponse:
        form = dict((await request.form()).items())
        app.state.actions.append((form["Action"], form["TotalAmount"]))
        code, msg = ("1", "OK") if form["Action"] == "N" else ("10200115", "Trade not closed yet")
        base = f"MerchantID={MID}&MerchantTradeNo={form['MerchantTradeNo']}&TradeNo={form['TradeNo']}"
        return PlainTextResponse(f"{base}&RtnCode={code}&RtnMsg={msg}")

    return app


def test_full_refund_refused_before_the_daily_close_voids_the_authorisation(db, run_asgi):
    app = _before_daily_close()
    url = run_asgi(app)
    placed = _paid_order(db, None)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    refund_payment(_uow(db), placed.payment_id, _config(url))
    assert _send_requested(db, placed.payment_id, _config(url), EcpayClient(url, MID, KEY, IV)) == [
        "CONFIRMED"
    ]
    assert app.state.actions == [("R", "70"), ("N", "70")]
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 70)
    assert _refunds(db, placed.payment_id)[0].ecpay_answer == "DoAction N: RtnCode 1 OK"


def test_unreachable_ecpay_leaves_the_refund_sent_and_nothing_is_sent_again_before_ecpay_is_asked(db):
    placed = _paid_order(db, None)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    dead = f"http://127.0.0.1:{free_port()}"
    client, config = EcpayClient(dead, MID, KEY, IV, timeout=1.0), _config(dead)
    refund_payment(_uow(db), placed.payment_id, config)
    now = datetime.now(UTC)
    # the call fails: the outcome is unknown, the refund stays SENT
    assert _send_requested(db, placed.payment_id, config, client, now=now) == ["SENT"]
    # a duplicate message within the grace does nothing (a call may still be in flight)
    assert _send_requested(db, placed.payment_id, config, client, now=now + timedelta(minutes=1)) == ["SENT"]
    # past the grace ECPay is asked first; still unreachable, so nothing is sent
    later = now + timedelta(minutes=6)
    assert _send_requested(db, placed.payment_id, config, client, now=later) == ["SENT"]
    assert [e.outcome.split(":")[0] for e in _events(db, placed.payment_id)] == ["unknown"]  # one DoAction
    (sent,) = _refunds(db, placed.payment_id)
    assert (sent.sends, sent.ecpay_answer.startswith("asked ECPay, no answer")) == (1, True)
    assert _payment(db, placed.payment_id).status == "REFUND_PENDING"


def test_a_refund_whose_answer_was_lost_is_confirmed_from_ecpays_record_never_sent_twice(db, sandbox_url):
    # Given a refund that ECPay carried out but whose answer never reached us
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    client, config = EcpayClient(sandbox_url, MID, KEY, IV), _config(sandbox_url)
    refund_payment(_uow(db), placed.payment_id, config)
    _sandbox_config(sandbox_url, do_action_answer="drop")
    now = datetime.now(UTC)
    assert _send_requested(db, placed.payment_id, config, client, now=now) == ["SENT"]
    _sandbox_config(sandbox_url, do_action_answer="normal")
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 70)]
    # When it is resumed past the grace
    assert _send_requested(db, placed.payment_id, config, client, now=now + timedelta(minutes=6)) == [
        "CONFIRMED"
    ]
    # Then ECPay's record (QueryTradeInfo -> gwsr -> CreditDetail/QueryTrade/V2) settled it: refunded once
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 70)]
    (confirmed,) = _refunds(db, placed.payment_id)
    assert confirmed.ecpay_answer == "ECPay's record: NT$70 refunded (已關帳), NT$0 confirmed here"
    assert confirmed.sends == 1
    assert (_payment(db, placed.payment_id).status, _payment(db, placed.payment_id).refunded_twd) == (
        "REFUNDED",
        70,
    )


def test_a_refund_whose_worker_died_before_doaction_left_is_sent_once_after_ecpay_says_it_has_none(
    db, sandbox_url
):
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED})
    config = _config(sandbox_url)
    refund_payment(_uow(db), placed.payment_id, config)
    dead = EcpayClient(f"http://127.0.0.1:{free_port()}", MID, KEY, IV, timeout=1.0)
    now = datetime.now(UTC)
    assert _send_requested(db, placed.payment_id, config, dead, now=now) == ["SENT"]  # it never reached ECPay
    assert _ledger(sandbox_url, placed.merchant_trade_no) == []
    live = EcpayClient(sandbox_url, MID, KEY, IV)
    assert _send_requested(db, placed.payment_id, config, live, now=now + timedelta(minutes=6)) == [
        "CONFIRMED"
    ]
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 45)]
    (confirmed,) = _refunds(db, placed.payment_id)
    assert confirmed.sends == 2 and confirmed.status == "CONFIRMED"


def test_offline_payment_becomes_an_operator_task_with_bank_details_done_with_a_reference(db):
    # Given an ATM payment (no refund API) whose PLN token failed
    placed = _paid_order(db, None, method="ATM_TAISHIN")
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED})
    client = EcpayClient(f"http://127.0.0.1:{free_port()}", MID, KEY, IV)
    # When its refund is requested
    assert refund_payment(_uow(db), placed.payment_id, _config("http://x")) == "NEEDS_REVIEW"
    # Then it is an operator's task for NT$45 with one alert, and nothing goes to ECPay
    (task,) = _refunds(db, placed.payment_id)
    assert (task.status, task.method, task.amount_twd) == ("MANUAL", "manual", 45)
    assert _send_requested(db, placed.payment_id, _config("http://x"), client) == ["MANUAL"]
    with Session(db) as s:
        alert = s.exec(select(Alert)).one()
    assert alert.condition == "refund_manual" and "NT$45" in alert.title and "ATM_TAISHIN" in alert.body
    assert _events(db, placed.payment_id) == []
    rows = [(r.condition, r.reason) for r in _stuck_rows(db) if r.payment_id == placed.payment_id]
    assert rows == [
        (
            "refund_needs_review",
            f"refund #{task.id} NT$45 MANUAL: waiting 0 min for an operator to refund by hand",
        )
    ]
    # When the operator keeps the customer's bank details, then marks it done with the transfer's reference
    op = _operator(db)
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="bank details"):
        record_bank_details(uow, op, task.id, "x")
    with UnitOfWork(db) as uow:
        record_bank_details(uow, op, task.id, "Bank Taishin 812, account 1234567890, WANG XIAO MING")
    with UnitOfWork(db) as uow:
        assert complete_refund(uow, op, task.id, "TRF 2026-12-02 #77") == "CONFIRMED"
    done = _refunds(db, placed.payment_id)[0]
    assert (done.bank_details, done.reference) == (
        "Bank Taishin 812, account 1234567890, WANG XIAO MING",
        "TRF 2026-12-02 #77",
    )
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 45)
    with Session(db) as s:
        audit = [
            (a.action, a.subject) for a in s.exec(select(OperatorAction).order_by(OperatorAction.id)).all()
        ]
    assert audit == [("refund_bank_details", f"refund:{task.id}"), ("refund_done", f"refund:{task.id}")]
    assert [r for r in _stuck_rows(db) if r.payment_id == placed.payment_id] == []
    with Session(db) as s:  # the order's timeline tells the refund's story
        titles = [e.title for e in order_timeline(s, placed.payment_id) if e.title.startswith("refund #1")]
    assert titles == [
        "refund #1 (NT$45): ∅ → REQUESTED · Refund requested",
        "refund #1 (NT$45): REQUESTED → MANUAL · Operator task: refund by hand",
        "refund #1 (NT$45): MANUAL → CONFIRMED · Refunded",
    ]


def _stuck_rows(db):
    with Session(db) as s:
        return stuck.stuck_payments(s, now=datetime.now(UTC) + timedelta(seconds=1), policy=ReconcilePolicy())


def test_an_operator_refunds_part_of_a_delivered_order_through_doaction_with_reason_and_audit(
    db, sandbox_url
):
    # Given a delivered (SUCCESS) card order of NT$70
    placed = _paid_order(db, sandbox_url)
    assert (
        _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.SUCCESS})
        == "SUCCESS"
    )
    op = _operator(db)
    client, config = EcpayClient(sandbox_url, MID, KEY, IV), _config(sandbox_url)
    # When an operator refunds NT$20 as goodwill
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="say why"):
        refund(uow, op, placed.payment_id, "", 20)
    with UnitOfWork(db) as uow:
        assert refund(uow, op, placed.payment_id, "goodwill: late delivery", 20) == "SUCCESS"
    # a second one while the first is on its way is refused; more than was charged is refused
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="on its way"):
        refund(uow, op, placed.payment_id, "again", 5)
    assert _send_requested(db, placed.payment_id, config, client) == ["CONFIRMED"]
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="at most NT\\$50"):
        refund(uow, op, placed.payment_id, "dispute", 51)
    # Then ECPay refunded NT$20 once; the order stays delivered with NT$20 refunded; the audit says who and why
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 20)]
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("SUCCESS", 20)
    (goodwill,) = _refunds(db, placed.payment_id)
    assert (goodwill.purpose, goodwill.reason, goodwill.requested_by) == (
        "operator",
        "goodwill: late delivery",
        "operator:ops",
    )
    with Session(db) as s:
        (audit,) = s.exec(select(OperatorAction)).all()
    assert (audit.action, audit.reason, audit.detail["amount_twd"], audit.detail["to"]) == (
        "refund", "goodwill: late delivery", 20, "SUCCESS",
    )  # fmt: skip
    # And the rest (NT$50) refunded as a dispute, by default everything left
    with UnitOfWork(db) as uow:
        refund(uow, op, placed.payment_id, "dispute: customer never used it")
    assert _send_requested(db, placed.payment_id, config, client) == ["CONFIRMED", "CONFIRMED"]
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 20), ("R", 50)]
    assert _payment(db, placed.payment_id).refunded_twd == 70


def test_a_lost_refund_message_is_healed_by_the_reconciler(db, sandbox_url):
    # Given a FAILED card payment whose refund_payment message was lost
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    with Session(db) as s:
        s.execute(OutboxMessage.__table__.delete().where(OutboxMessage.topic == "refund_payment"))
        s.commit()
    config, client = _config(sandbox_url), EcpayClient(sandbox_url, MID, KEY, IV)
    policy = ReconcilePolicy(redispatch_after=timedelta(minutes=2))
    later = datetime.now(UTC) + timedelta(minutes=3)
    rows = [(r.condition, r.reason) for r in _stuck_rows_at(db, later + timedelta(hours=1))]
    assert rows == [("refund_missing", "FAILED 1 h 3 min and no refund started")]
    # When reconciliation runs
    counts = reconcile(_uow(db), config, client, now=later, policy=policy)
    # Then it started the refund (its send_refund message in the outbox), which the worker then sends once
    assert counts["refunds_started"] == 1
    (requested,) = _refunds(db, placed.payment_id)
    assert requested.status == "REQUESTED"
    assert _count(db, OutboxMessage, OutboxMessage.topic == "send_refund") == 1
    # the send_refund message is lost too: the next tick sends it again, and the worker refunds once
    reconcile(_uow(db), config, client, now=later + timedelta(minutes=3), policy=policy)
    assert _count(db, OutboxMessage, OutboxMessage.topic == "send_refund") == 2
    assert _send_requested(db, placed.payment_id, config, client) == ["CONFIRMED"]
    assert _send_requested(db, placed.payment_id, config, client) == ["CONFIRMED"]
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 70)]
    assert _payment(db, placed.payment_id).status == "REFUNDED"


def _stuck_rows_at(db, now):
    with Session(db) as s:
        return stuck.stuck_payments(s, now=now, policy=ReconcilePolicy())


def test_ten_concurrent_copies_of_each_message_refund_once(db, sandbox_url):
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    barrier = threading.Barrier(10)
    config = _config(sandbox_url)

    def handle(_):
        barrier.wait()
        refund_payment(_uow(db), placed.payment_id, config)
        return _send_requested(db, placed.payment_id, config, EcpayClient(sandbox_url, MID, KEY, IV))

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(handle, range(10)))
    assert {r for rs in results for r in rs} <= {"CONFIRMED", "SENT"}
    assert len(_refunds(db, placed.payment_id)) == 1
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 70)]
    assert len(_events(db, placed.payment_id)) == 1
    assert _payment(db, placed.payment_id).status == "REFUNDED"


def test_a_refund_claimed_by_the_older_code_whose_doaction_left_goes_to_review_never_sent_again(
    db, sandbox_url
):
    # Given a payment claimed (REFUND_PENDING) by the code before refund rows, whose DoAction left unanswered
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    with Session(db) as s:
        transition_payment(
            s, placed.payment_id, PaymentStatus.REFUND_PENDING, cause="old claim", actor="system:refunds"
        )
        s.add(
            GatewayEvent(
                payment_id=placed.payment_id,
                merchant_trade_no=placed.merchant_trade_no,
                kind="refund",
                fields={"request": {"Action": "R", "TotalAmount": "70", "TradeNo": "x"}},
                verified=False,
                outcome="sent: DoAction R NT$70, no answer yet",
            )
        )
        s.commit()
    # When the reconciler looks for payments without a refund
    reconcile(_uow(db), _config(sandbox_url), EcpayClient(sandbox_url, MID, KEY, IV),
              now=datetime.now(UTC) + timedelta(minutes=3), policy=ReconcilePolicy())  # fmt: skip
    # Then a person decides: no refund row, nothing sent to ECPay, one alert saying it may have happened
    assert _refunds(db, placed.payment_id) == []
    assert _ledger(sandbox_url, placed.merchant_trade_no) == []
    assert _payment(db, placed.payment_id).status == "NEEDS_REVIEW"
    with Session(db) as s:
        alert = s.exec(select(Alert).where(Alert.condition == "refund_unknown")).one()
    assert "MAY OR MAY NOT" in alert.body


def test_an_operator_closes_a_refund_whose_answer_never_came_only_once_no_call_can_be_in_flight(db):
    placed = _paid_order(db, None)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    dead = f"http://127.0.0.1:{free_port()}"
    refund_payment(_uow(db), placed.payment_id, _config(dead))
    assert _send_requested(
        db, placed.payment_id, _config(dead), EcpayClient(dead, MID, KEY, IV, timeout=1.0)
    ) == ["SENT"]
    (sent,) = _refunds(db, placed.payment_id)
    op = _operator(db)
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="may still come"):
        complete_refund(uow, op, sent.id, "ECPay back office: refunded 70")
    with Session(db) as s:
        s.execute(
            Refund.__table__.update()
            .where(Refund.id == sent.id)
            .values(sent_at=datetime.now(UTC) - timedelta(minutes=6))
        )
        s.commit()
    with UnitOfWork(db) as uow:
        assert complete_refund(uow, op, sent.id, "ECPay back office: refunded 70") == "CONFIRMED"
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 70)
    assert _refund_history(db, sent.id)[-1] == ("SENT", "CONFIRMED")
    assert _refunds(db, placed.payment_id)[0].reference == "ECPay back office: refunded 70"
