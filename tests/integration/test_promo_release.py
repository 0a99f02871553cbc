"""A promo use is released when its order expires unpaid or is refunded in full (issue 18), in the transaction
that moves the order; a partial refund keeps it. Real PostgreSQL, the ECPay sandbox over HTTP (its ledger says
what was refunded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from esa_domain.adapters.ecpay import EcpayClient, build_checkout_fields
from esa_domain.core.errors import PromoExhausted
from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Payment, PaymentItem, Promo, PromoUsage, Refund
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.payments.accept import EcpayConfig, Verdict, check_payment
from esa_domain.payments.refunds import refund_payment, send_refund
from esa_domain.payments.settlement import finish_payment_if_done
from sandbox.ecpay import create_ecpay_sandbox
from tests import factories

MID, KEY, IV = "3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"  # ECPay's public test merchant
LINES = (OrderLine("TSEL10", "081234567890"), OrderLine("PLN20", "12345678901"))  # NT$25 + NT$45


@pytest.fixture
def sandbox_url(run_asgi) -> str:
    return run_asgi(create_ecpay_sandbox(merchant_id=MID, hash_key=KEY, hash_iv=IV))


def _config(url: str) -> EcpayConfig:
    return EcpayConfig(MID, KEY, IV, url, public_url="https://esa.example", credit_check_code="25012345")


def _place(db, customer_id: int, key: str):
    with UnitOfWork(db) as uow:
        return place_order(uow, OrderRequest(customer_id, key, LINES, "HEMAT10"))


def _hand_off(sandbox_url: str, placed) -> str:
    """The trade exists at ECPay (the sandbox), as after the payer opened the payment page; its trade number."""
    fields = build_checkout_fields(
        merchant_id=MID, hash_key=KEY, hash_iv=IV, merchant_trade_no=placed.merchant_trade_no,
        trade_date=datetime.now(UTC), total_amount=placed.amount_twd, item_names=["Telkomsel 10.000", "PLN 20.000"],
        trade_desc="ESA", return_url="http://127.0.0.1:9/ecpay/return", order_result_url=None,
        client_back_url=None, payment_id=placed.payment_id, choose_payment="Credit", contains_game_product=False,
    )  # fmt: skip
    httpx.post(sandbox_url + "/Cashier/AioCheckOut/V5", data=fields).raise_for_status()
    return httpx.get(f"{sandbox_url}/_sandbox/trades/{placed.merchant_trade_no}").json()["trade_no"]


def _pay(db, sandbox_url: str, placed) -> None:
    _hand_off(sandbox_url, placed)
    trade = f"{sandbox_url}/_sandbox/trades/{placed.merchant_trade_no}"
    httpx.post(trade + "/pay", params={"mode": "never"}).raise_for_status()
    with Session(db) as s:
        transition_payment(
            s, placed.payment_id, PaymentStatus.PAID, cause="test: paid", actor="ecpay",
            values={"ecpay_trade_no": httpx.get(trade).json()["trade_no"], "payment_method": "Credit_CreditCard",
                    "paid_amount_twd": placed.amount_twd},
        )  # fmt: skip
        s.commit()


def _finish(db, payment_id: int, outcomes: dict[int, ItemStatus]) -> str:
    with Session(db) as s:
        for item in s.exec(select(PaymentItem).where(PaymentItem.payment_id == payment_id)).all():
            transition_item(s, item.id, ItemStatus.PROCESSING, cause="test", actor="test")
            transition_item(s, item.id, outcomes[item.price_twd], cause="test", actor="test")
        result = finish_payment_if_done(s, payment_id, public_url="https://esa.example")
        s.commit()
        return result.current


def _refund_all(db, sandbox_url: str, payment_id: int) -> list[str]:
    config, client = _config(sandbox_url), EcpayClient(sandbox_url, MID, KEY, IV)
    refund_payment(lambda: UnitOfWork(db), payment_id, config)
    with Session(db) as s:
        ids = s.exec(select(Refund.id).where(Refund.payment_id == payment_id)).all()
    return [send_refund(lambda: UnitOfWork(db), rid, config, client) for rid in ids]


def _uses(db) -> tuple[int, list[int]]:
    """The promo's used_count and the payments holding a use of it."""
    with Session(db) as s:
        promo = s.exec(select(Promo).where(Promo.code == "HEMAT10")).one()
        return promo.used_count, list(s.exec(select(PromoUsage.payment_id).order_by(PromoUsage.id)).all())


def _ledger(sandbox_url: str, mtn: str) -> list[tuple[str, int]]:
    trade = httpx.get(f"{sandbox_url}/_sandbox/trades/{mtn}").json()
    return [(r["action"], r["amount"]) for r in trade["refunds"]]


def test_a_full_refund_releases_the_use_and_the_customer_may_use_the_code_again(db, sandbox_url):
    factories.catalog(db)
    factories.promo(db, max_uses=1)  # 10 % off, one use in all
    cust = factories.customer(db)
    placed = _place(db, cust.id, "k1")
    assert placed.amount_twd == 63 and _uses(db) == (1, [placed.payment_id])
    other = factories.customer(db, "U-other")
    with pytest.raises(PromoExhausted):  # the one use is taken
        _place(db, other.id, "k2")

    _pay(db, sandbox_url, placed)
    assert _finish(db, placed.payment_id, {25: ItemStatus.FAILED, 45: ItemStatus.FAILED}) == "FAILED"
    assert _refund_all(db, sandbox_url, placed.payment_id) == ["CONFIRMED"]
    assert _ledger(sandbox_url, placed.merchant_trade_no) == [("R", 63)]
    with Session(db) as s:
        p = s.get(Payment, placed.payment_id)
        assert (p.status, p.refunded_twd) == ("REFUNDED", 63)
    assert _uses(db) == (0, [])  # released with the refund

    again = _place(db, cust.id, "k3")  # the same customer, the same code: allowed again
    assert again.amount_twd == 63 and _uses(db) == (1, [again.payment_id])


def test_a_partial_refund_keeps_the_use(db, sandbox_url):
    factories.catalog(db)
    factories.promo(db)
    placed = _place(db, factories.customer(db).id, "k1")
    _pay(db, sandbox_url, placed)
    assert _finish(db, placed.payment_id, {25: ItemStatus.SUCCESS, 45: ItemStatus.FAILED}) == "PARTIAL"
    assert _refund_all(db, sandbox_url, placed.payment_id) == ["CONFIRMED"]
    [(action, amount)] = _ledger(sandbox_url, placed.merchant_trade_no)
    assert action == "R" and 0 < amount < 63
    assert _uses(db) == (1, [placed.payment_id])  # the customer kept a delivered, discounted item


def test_an_order_that_expires_unpaid_releases_its_use(db, sandbox_url):
    factories.catalog(db)
    factories.promo(db, max_uses=1)
    cust = factories.customer(db)
    placed = _place(db, cust.id, "k1")
    _hand_off(sandbox_url, placed)  # opened the payment page, never paid
    config, client = _config(sandbox_url), EcpayClient(sandbox_url, MID, KEY, IV)
    uow = lambda: UnitOfWork(db)  # noqa: E731
    assert check_payment(uow, placed.payment_id, config, client) is Verdict.NOT_PAID
    assert _uses(db) == (1, [placed.payment_id])  # still payable: still holds its use
    later = datetime.now(UTC) + timedelta(hours=1)
    assert check_payment(uow, placed.payment_id, config, client, now=later) is Verdict.EXPIRED
    assert _uses(db) == (0, [])
    assert check_payment(uow, placed.payment_id, config, client, now=later) is Verdict.UNCHANGED
    assert _uses(db) == (0, [])  # released once, never below zero
    assert _place(db, cust.id, "k2").amount_twd == 63
