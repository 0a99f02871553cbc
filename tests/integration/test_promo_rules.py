"""Promo rules made on the Promos page (issue 18): uses per customer and the products a promo is for, enforced
when the order is placed, in the database. Real PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select

from esa_domain.core.errors import PromoAlreadyUsed, PromoError
from esa_domain.core.states import PaymentStatus
from esa_domain.core.transitions import transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import OperatorAction, Promo, PromoProduct, PromoUsage
from esa_domain.operations.operators import create_operator
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.ordering.promo_release import release_promo_use
from esa_domain.ordering.promos import PromoError as PromoFormError
from esa_domain.ordering.promos import create_promo, promo_rows
from tests import factories

TSEL = OrderLine("TSEL10", "081234567890")  # NT$25
PLN = OrderLine("PLN20", "12345678901")  # NT$45


def _admin(db):
    with Session(db) as s:
        op = create_operator(s, "ada", "a-long-password-1", "admin")
        s.commit()
        s.refresh(op)
        s.expunge(op)
        return op


def _promo(db, admin, **kw) -> None:
    with UnitOfWork(db) as uow:
        create_promo(uow.session, admin, kind="percent", value="10", **kw)
        uow.commit()


def _place(db, customer_id: int, key: str, *lines: OrderLine, code: str = "HEMAT10"):
    with UnitOfWork(db) as uow:
        return place_order(uow, OrderRequest(customer_id, key, lines, code))


def _uses(db, customer_id: int) -> list[int]:
    with Session(db) as s:
        q = select(PromoUsage.use_no).where(PromoUsage.customer_id == customer_id).order_by(PromoUsage.use_no)
        return list(s.exec(q).all())


def test_a_customer_uses_a_code_as_often_as_it_allows_and_a_released_use_frees_its_number(db):
    factories.catalog(db)
    admin = _admin(db)
    _promo(db, admin, code="hemat10", per_customer="2")
    cust = factories.customer(db)
    first = _place(db, cust.id, "k1", TSEL, PLN)
    _place(db, cust.id, "k2", TSEL, PLN)
    assert _uses(db, cust.id) == [1, 2]
    with pytest.raises(PromoAlreadyUsed, match="as often as it allows"):
        _place(db, cust.id, "k3", TSEL, PLN)
    assert _uses(db, cust.id) == [1, 2]  # nothing of the refused order was written
    with Session(db) as s:
        assert s.exec(select(Promo.used_count)).one() == 2

    with Session(db) as s:  # the first order expires unpaid: its use comes back
        transition_payment(s, first.payment_id, PaymentStatus.EXPIRED, cause="test", actor="test",
                           from_={PaymentStatus.PENDING})  # fmt: skip
        assert release_promo_use(s, first.payment_id) == 1
        s.commit()
    third = _place(db, cust.id, "k3", TSEL, PLN)
    assert third.amount_twd == 63 and _uses(db, cust.id) == [1, 2]
    with Session(db) as s:
        [row] = [r for r in promo_rows(s) if r.code == "HEMAT10"]
    assert (row.per_customer_limit, row.used_count, row.customers) == (2, 2, 2)


def test_two_concurrent_orders_cannot_both_take_a_customers_last_use(db):
    factories.catalog(db)
    _promo(db, _admin(db), code="HEMAT10")  # once per customer
    cust = factories.customer(db)

    def order(i: int) -> str:
        try:
            _place(db, cust.id, f"c{i}", TSEL)
        except PromoAlreadyUsed:
            return "refused"
        return "placed"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(order, range(4)))
    assert outcomes == ["placed", "refused", "refused", "refused"]
    assert _uses(db, cust.id) == [1]


def test_a_promo_for_some_products_discounts_only_them(db):
    factories.catalog(db)
    admin = _admin(db)
    _promo(db, admin, code="PLNHEMAT", products="PLN20")
    cust = factories.customer(db)
    placed = _place(db, cust.id, "k1", TSEL, PLN, code="PLNHEMAT")
    assert (placed.quote.subtotal_twd, placed.quote.discount_twd) == (70, 4)  # 10 % of PLN20's NT$45 only
    with pytest.raises(PromoError, match=r"only for PLN 20\.000; this order holds none of them"):
        _place(db, factories.customer(db, "U-2").id, "k2", TSEL, code="PLNHEMAT")
    with Session(db) as s:
        detail = s.exec(select(OperatorAction.detail).where(OperatorAction.action == "promo_create")).one()
    assert detail["products"] == ["PLN20"]
    with Session(db) as s:
        [row] = promo_rows(s)
    assert row.products == ("PLN20",)

    # a product code that does not exist: a clear error and nothing written
    with Session(db) as s, pytest.raises(PromoFormError, match="there is no product NOPE"):
        create_promo(s, admin, code="BAD1", kind="percent", value="5", products="PLN20, NOPE")
    with Session(db) as s:
        assert s.exec(select(Promo.code).order_by(Promo.code)).all() == ["PLNHEMAT"]
        assert len(s.exec(select(PromoProduct)).all()) == 1
