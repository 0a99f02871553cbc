"""place_order on real PostgreSQL: one transaction, idempotent, promo limits held by the database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from esa_domain.core import errors
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import (
    OutboxMessage,
    Payment,
    PaymentHistory,
    PaymentItem,
    Promo,
    PromoUsage,
)
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories

PHONE = "081234567890"


def _count(engine, model) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).scalar_one()


def _all_counts(engine) -> dict:
    return {
        m.__name__: _count(engine, m)
        for m in (Payment, PaymentItem, PaymentHistory, PromoUsage, OutboxMessage)
    }


def _place(engine, request):
    with UnitOfWork(engine) as uow:
        return place_order(uow, request)


def test_order_is_written_whole_with_its_quote(db):
    cat = factories.catalog(db, rate="0.00200")
    cust = factories.customer(db)
    placed = _place(
        db,
        OrderRequest(
            cust.id, "key-1", (OrderLine("TSEL10", "+62 812-3456-7890"), OrderLine("PLN20", "12345678901"))
        ),
    )
    with Session(db) as s:
        payment = s.get(Payment, placed.payment_id)
        items = s.exec(select(PaymentItem).where(PaymentItem.payment_id == payment.id)).scalars().all()
        outbox = s.exec(select(OutboxMessage)).scalars().all()
    assert payment.status == "PENDING" and payment.amount_twd == 25 + 45
    assert payment.fx_rate == Decimal("0.002") and payment.fx_rate_id == cat["fx"].id
    # cheapest by effective TWD: IAK 10200 IDR (20.4) beats Lapak 10100 IDR + NT$1 fee (21.2)
    assert sorted(i.cost_idr for i in items) == [10200, 20300]
    assert payment.cost_idr == 30500 and payment.cost_twd == Decimal("61.0000")
    assert {i.target for i in items} == {"081234567890", "12345678901"}
    assert len(payment.merchant_trade_no) == 20 and payment.merchant_trade_no.isalnum()
    assert [(o.topic, o.payload) for o in outbox] == [("check_payment", {"payment_id": payment.id})]
    assert _count(db, PaymentHistory) == 3  # the payment and both items, each born PENDING


def test_same_key_same_request_returns_the_same_order(db):
    factories.catalog(db)
    cust = factories.customer(db)
    req = OrderRequest(cust.id, "key-1", (OrderLine("TSEL10", PHONE),))
    first, again = _place(db, req), _place(db, req)
    assert again.payment_id == first.payment_id and again.replayed and not first.replayed
    assert _count(db, Payment) == 1


def test_same_key_different_request_is_a_conflict(db):
    factories.catalog(db)
    cust = factories.customer(db)
    _place(db, OrderRequest(cust.id, "key-1", (OrderLine("TSEL10", PHONE),)))
    with pytest.raises(errors.IdempotencyConflict, match="different order"):
        _place(db, OrderRequest(cust.id, "key-1", (OrderLine("TSEL10", "081299999999"),)))
    assert _count(db, Payment) == 1


def test_twenty_concurrent_orders_with_one_key_create_one_order(db):
    factories.catalog(db)
    cust = factories.customer(db)
    promo = factories.promo(db, max_uses=100)
    req = OrderRequest(cust.id, "same-key", (OrderLine("TSEL10", PHONE),), promo_code=promo.code)
    barrier = threading.Barrier(20)

    def go(_):
        barrier.wait()
        return _place(db, req).payment_id

    with ThreadPoolExecutor(20) as pool:
        ids = set(pool.map(go, range(20)))
    assert len(ids) == 1
    counts = _all_counts(db)
    assert counts["Payment"] == 1 and counts["PromoUsage"] == 1 and counts["OutboxMessage"] == 1
    with Session(db) as s:
        assert s.get(Promo, promo.id).used_count == 1


def test_last_promo_use_goes_to_exactly_one_of_many_concurrent_customers(db):
    factories.catalog(db)
    promo = factories.promo(db, code="LAST5", max_uses=5)
    customers = [factories.customer(db, f"U-{i}") for i in range(15)]
    barrier = threading.Barrier(15)

    def go(c):
        barrier.wait()
        try:
            _place(db, OrderRequest(c.id, f"k-{c.id}", (OrderLine("TSEL10", PHONE),), promo_code="last5"))
            return "ok"
        except errors.PromoExhausted:
            return "exhausted"

    with ThreadPoolExecutor(15) as pool:
        outcomes = list(pool.map(go, customers))
    assert outcomes.count("ok") == 5 and outcomes.count("exhausted") == 10
    with Session(db) as s:
        assert s.get(Promo, promo.id).used_count == 5
    assert _count(db, Payment) == 5 and _count(db, PromoUsage) == 5


def test_promo_once_per_customer(db):
    factories.catalog(db)
    cust = factories.customer(db)
    factories.promo(db, code="ONCE")
    _place(db, OrderRequest(cust.id, "a", (OrderLine("TSEL10", PHONE),), promo_code="ONCE"))
    before = _all_counts(db)
    with pytest.raises(errors.PromoAlreadyUsed):
        _place(db, OrderRequest(cust.id, "b", (OrderLine("TSEL10", PHONE),), promo_code="ONCE"))
    assert _all_counts(db) == before


def test_percent_promo_discount_is_whole_dollars(db):
    factories.catalog(db)
    cust = factories.customer(db)
    factories.promo(db, code="TEN", kind="percent", value=10)
    placed = _place(
        db, OrderRequest(cust.id, "a", (OrderLine("ML86", "12345678", zone="2001"),), promo_code="ten")
    )
    with Session(db) as s:
        p = s.get(Payment, placed.payment_id)
    assert (p.subtotal_twd, p.discount_twd, p.amount_twd) == (70, 7, 63)


now = datetime.now(UTC)


@pytest.mark.parametrize(
    ("line", "promo_kw", "error", "message"),
    [
        (OrderLine("NOPE", PHONE), None, errors.UnknownProduct, "no product 'NOPE'"),
        (OrderLine("OFF1", PHONE), None, errors.ProductUnavailable, "not on sale"),
        (OrderLine("TSEL10", "12345"), None, errors.InvalidTarget, "not an Indonesian mobile number"),
        (OrderLine("PLN20", "1234"), None, errors.InvalidTarget, "exactly 11 digits"),
        (OrderLine("ML86", "12345678"), None, errors.InvalidTarget, "zone"),
        (
            OrderLine("TSEL10", PHONE),
            {"code": "GONE", "ends_at": now - timedelta(days=1)},
            errors.PromoExpired,
            "expired",
        ),
        (
            OrderLine("TSEL10", PHONE),
            {"code": "GONE", "max_uses": 3, "used_count": 3},
            errors.PromoExhausted,
            "used up",
        ),
        (
            OrderLine("TSEL10", PHONE),
            {"code": "GONE", "starts_at": now + timedelta(days=1)},
            errors.PromoNotStarted,
            "starts on",
        ),
        (
            OrderLine("TSEL10", PHONE),
            {"code": "GONE", "active": False},
            errors.PromoUnknown,
            "does not exist",
        ),
    ],
)
def test_invalid_input_gets_a_specific_error_and_writes_nothing(db, line, promo_kw, error, message):
    factories.catalog(db)
    cust = factories.customer(db)
    promo_code = None
    if promo_kw:
        factories.promo(db, **promo_kw)
        promo_code = promo_kw["code"]
    with pytest.raises(error, match=message):
        _place(db, OrderRequest(cust.id, "k", (line,), promo_code=promo_code))
    assert _all_counts(db) == dict.fromkeys(_all_counts(db), 0)


def test_stale_rate_refuses_to_quote(db):
    factories.catalog(db, rate_age=timedelta(days=3))
    cust = factories.customer(db)
    with pytest.raises(errors.StaleRate, match="older than"):
        _place(db, OrderRequest(cust.id, "k", (OrderLine("TSEL10", PHONE),)))
    assert _count(db, Payment) == 0


def test_product_without_available_offer_is_refused(db):
    cat = factories.catalog(db)
    cust = factories.customer(db)
    with Session(db) as s:
        s.get(type(cat["lapak"]), cat["lapak"].id).enabled = False
        s.commit()
    with pytest.raises(errors.ProductUnavailable, match="cannot be delivered right now"):
        _place(db, OrderRequest(cust.id, "k", (OrderLine("ML86", "12345678", zone="1"),)))


def test_merchant_trade_numbers_are_unique_twenty_character_alphanumerics():
    from esa_domain.ordering.orders import new_merchant_trade_no

    now = datetime.now(UTC)
    numbers = {new_merchant_trade_no(now) for _ in range(1000)}
    assert len(numbers) == 1000
    assert all(len(n) == 20 and n.isalnum() and n.isupper() for n in numbers)
