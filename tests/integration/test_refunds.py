"""Refunds against the ECPay sandbox over real HTTP, on real PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from sqlmodel import Session, func, select

from esa_domain.adapters.ecpay import EcpayClient, build_checkout_fields
from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, GatewayEvent, OutboxMessage, Payment, PaymentHistory, PaymentItem
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.payments.accept import EcpayConfig
from esa_domain.payments.refunds import refund_payment
from esa_domain.payments.settlement import finish_payment_if_done
from sandbox.ecpay import create_ecpay_sandbox
from tests import factories
from tests.servers import free_port

MID, KEY, IV = "3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"


def _config(base_url: str) -> EcpayConfig:
    return EcpayConfig(MID, KEY, IV, base_url, public_url="https://esa.example")


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
        return [a.condition for a in s.exec(select(Alert)).all()]


def _count(db, model, *where) -> int:
    with Session(db) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def test_failed_card_payment_is_refunded_in_full_and_a_duplicate_message_does_nothing(db, sandbox_url):
    # Given a paid card order whose items both failed
    placed = _paid_order(db, sandbox_url)
    assert _finish_items(
        db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED}
    ) == ("FAILED")
    assert _count(db, OutboxMessage, OutboxMessage.topic == "refund_payment") == 1
    client = EcpayClient(sandbox_url, MID, KEY, IV)
    # When the refund message is handled twice
    first = refund_payment(_uow(db), placed.payment_id, _config(sandbox_url), client)
    second = refund_payment(_uow(db), placed.payment_id, _config(sandbox_url), client)
    # Then ECPay refunded the whole amount once, and the record says so
    assert (first, second) == ("REFUNDED", "REFUNDED")
    assert _sandbox_trade(sandbox_url, placed.merchant_trade_no)["refunded"] == 70
    payment = _payment(db, placed.payment_id)
    assert (payment.status, payment.refunded_twd) == ("REFUNDED", 70)
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
    assert _finish_items(
        db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED}
    ) == ("PARTIAL")
    # When it is refunded
    status = refund_payment(
        _uow(db), placed.payment_id, _config(sandbox_url), EcpayClient(sandbox_url, MID, KEY, IV)
    )
    # Then the customer gets 63 * 45 / 70 = 40.5 -> NT$41 back (never less than their share)
    assert status == "REFUNDED"
    assert _payment(db, placed.payment_id).refunded_twd == 41
    assert _sandbox_trade(sandbox_url, placed.merchant_trade_no)["refunded"] == 41


def test_refused_refund_and_void_go_to_review_with_one_alert(db, sandbox_url):
    # Given a failed card order that was already partly refunded in ECPay's back office
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    client = EcpayClient(sandbox_url, MID, KEY, IV)
    trade_no = _payment(db, placed.payment_id).ecpay_trade_no
    assert client.do_action(placed.merchant_trade_no, trade_no, "R", 10).ok
    # When we refund it
    status = refund_payment(_uow(db), placed.payment_id, _config(sandbox_url), client)
    # Then R (exceeds what is left) and the void N (refunds exist) are refused: an operator decides
    assert status == "NEEDS_REVIEW"
    outcomes = [e.outcome for e in _events(db, placed.payment_id)]
    assert outcomes == [
        "refused: RtnCode 10200061 Refund amount exceeds the paid amount",
        "refused: RtnCode 10200062 Cannot void a trade with refunds",
    ]
    assert _sandbox_trade(sandbox_url, placed.merchant_trade_no)["refunded"] == 10
    assert _alerts(db) == ["refund_refused"]
    assert _payment(db, placed.payment_id).refunded_twd == 0


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
    status = refund_payment(_uow(db), placed.payment_id, _config(url), EcpayClient(url, MID, KEY, IV))
    assert status == "REFUNDED"
    assert app.state.actions == [("R", "70"), ("N", "70")]
    assert _payment(db, placed.payment_id).refunded_twd == 70
    with Session(db) as s:
        causes = s.exec(select(PaymentHistory.cause).where(PaymentHistory.to_status == "REFUNDED")).all()
    assert causes == ["NT$70 voided (DoAction N)"]


def test_unreachable_ecpay_is_review_saying_the_refund_may_have_happened_never_a_blind_retry(db):
    placed = _paid_order(db, None)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    dead = f"http://127.0.0.1:{free_port()}"
    client = EcpayClient(dead, MID, KEY, IV, timeout=1.0)
    assert refund_payment(_uow(db), placed.payment_id, _config(dead), client) == "NEEDS_REVIEW"
    assert refund_payment(_uow(db), placed.payment_id, _config(dead), client) == "NEEDS_REVIEW"
    assert [e.outcome.split(":")[0] for e in _events(db, placed.payment_id)] == ["unknown"]  # one call, no N
    with Session(db) as s:
        alert = s.exec(select(Alert)).one()
    assert alert.condition == "refund_unknown" and "MAY OR MAY NOT" in alert.body
    assert alert.link == f"https://esa.example/orders/{placed.payment_id}"


def test_non_card_payment_goes_to_review_for_a_refund_by_hand(db):
    placed = _paid_order(db, None, method="ATM_TAISHIN")
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED})
    client = EcpayClient(f"http://127.0.0.1:{free_port()}", MID, KEY, IV)
    assert refund_payment(_uow(db), placed.payment_id, _config("http://x"), client) == "NEEDS_REVIEW"
    with Session(db) as s:
        alert = s.exec(select(Alert)).one()
    assert alert.condition == "refund_manual" and "NT$45" in alert.title and "ATM_TAISHIN" in alert.body
    assert _events(db, placed.payment_id) == []
    assert _count(db, OutboxMessage, OutboxMessage.topic == "send_alert") == 1


def test_ten_concurrent_copies_of_the_message_refund_once(db, sandbox_url):
    placed = _paid_order(db, sandbox_url)
    _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.FAILED, "PLN20": ItemStatus.FAILED})
    barrier = threading.Barrier(10)

    def handle(_):
        barrier.wait()
        client = EcpayClient(sandbox_url, MID, KEY, IV)
        return refund_payment(_uow(db), placed.payment_id, _config(sandbox_url), client)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(handle, range(10)))
    assert set(results) <= {"REFUNDED", "REFUND_PENDING"}
    assert _sandbox_trade(sandbox_url, placed.merchant_trade_no)["refunded"] == 70
    assert len(_events(db, placed.payment_id)) == 1
    assert _payment(db, placed.payment_id).status == "REFUNDED"
