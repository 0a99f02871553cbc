"""Finding things: the orders search by anything a person has in hand, a customer's page, and the CSV exports, on
real PostgreSQL with orders placed by the real ordering code."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from esa_domain.core.errors import InvalidRequest
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Customer, ItemAttempt, OperatorAction, Payment, PaymentItem
from esa_domain.operations.operators import create_operator, record_action
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.views.exports import audit_rows, export_range, orders_rows, refunds_rows, to_csv
from esa_domain.views.orders import TAIPEI, OrderFilter, customer_view, number_forms, search_orders
from tests import factories


def _order(engine, customer_id: int, target: str, code: str = "TSEL10") -> int:
    with UnitOfWork(engine) as uow:
        placed = place_order(uow, OrderRequest(customer_id, uuid.uuid4().hex, (OrderLine(code, target),)))
        uow.commit()
    return placed.payment_id


@pytest.fixture
def shop(db):
    cat = factories.catalog(db)
    budi = factories.add(db, Customer(line_user_id="U1234budi", display_name="Budi Santoso"))
    siti = factories.add(db, Customer(line_user_id="U5678siti", display_name="Siti Rahayu"))
    first = _order(db, budi.id, "081377778888")
    second = _order(db, budi.id, "085211112222")
    third = _order(db, siti.id, "081299990000")
    with Session(db) as s:
        s.execute(update(Payment).where(Payment.id == second).values(ecpay_trade_no="2412011234567890"))
        item = s.exec(select(PaymentItem).where(PaymentItem.payment_id == third)).one()
        s.add(
            ItemAttempt(
                item_id=item.id,
                supplier_id=cat["iak"].id,
                reference="ESA-REF-777",
                supplier_txn_id="IAK-TX-42",
                cost_idr=10200,
                cost_twd=20,
            )
        )
        s.commit()
    return {"budi": budi, "siti": siti, "first": first, "second": second, "third": third}


def _found(db, q: str, **kw) -> list[int]:
    with Session(db) as s:
        return sorted(r.id for r in search_orders(s, OrderFilter(q=q, **kw)).rows)


def test_number_forms_name_one_line_however_it_is_written():
    for written in ("+62 813-7777-8888", "6281377778888", "081377778888", "0813.7777.8888"):
        forms, runs = number_forms(written)
        assert runs[0] == "81377778888"
        assert "081377778888" in forms and "6281377778888" in forms
    assert number_forms("+62 813-7777")[1] == ["8137777"]
    assert number_forms("E2401ABC") == ([], [])


@pytest.mark.parametrize(
    "q",
    ["+62 813 7777 8888", "+62 813-7777", "628137777", "6281377778888", "081377778888", "7777888", "0813777"],
)
def test_an_order_is_found_by_any_form_or_part_of_its_number(db, shop, q):
    assert _found(db, q) == [shop["first"]]


def test_an_order_is_found_by_our_number_ecpay_numbers_supplier_refs_and_customer(db, shop):
    with Session(db) as s:
        mtn = s.get(Payment, shop["third"]).merchant_trade_no
    assert _found(db, f"#{shop['second']}") == [shop["second"]]
    assert _found(db, str(shop["second"])) == [shop["second"]]
    assert _found(db, mtn) == [shop["third"]]
    assert _found(db, "2412011234567890") == [shop["second"]]  # ECPay's TradeNo
    assert _found(db, "ESA-REF-777") == [shop["third"]]  # our reference sent to the supplier
    assert _found(db, "IAK-TX-42") == [shop["third"]]  # the supplier's own transaction id
    assert _found(db, "U1234budi") == sorted([shop["first"], shop["second"]])  # LINE user id
    assert _found(db, "budi") == sorted([shop["first"], shop["second"]])  # part of the name, any case
    assert _found(db, "santoso", status="PENDING") == sorted([shop["first"], shop["second"]])
    assert _found(db, "santoso", status="PAID") == []
    assert _found(db, "nobody-like-this") == []
    assert _found(db, "50%_") == []  # LIKE wildcards are text, not patterns


def test_a_short_run_of_digits_is_not_a_partial_number(db, shop):
    assert _found(db, "777") == []  # 3 digits would match nearly every number: only exact ids are tried


def test_a_part_matching_more_orders_than_a_page_pages_through_all_of_them_under_the_filters(db, shop):
    """A part of a name or number keeps only a page's worth of its newest matches (search_ids' `first`), under the
    listing's own filters: older matches come on the next pages, and a status filter never hides them."""
    dewi = factories.add(db, Customer(line_user_id="U9dewi", display_name="Dewi Lestari"))
    ids = [_order(db, dewi.id, f"08137777{n:04d}") for n in range(7)]
    with Session(db) as s:  # the four newest are expired: a status filter must reach past them
        s.execute(update(Payment).where(Payment.id.in_(ids[3:])).values(status="EXPIRED"))
        s.commit()
    for q in ("lestari", "81377770"):  # part of a name; part of a number (shop's 081377778888 does not match)
        seen, after = [], None
        with Session(db) as s:
            while True:
                page = search_orders(s, OrderFilter(q=q), after=after, limit=2)
                seen += [r.id for r in page.rows]
                if page.next_cursor is None:
                    break
                after = page.next_cursor
            assert seen == sorted(ids, reverse=True), q
            pending = search_orders(s, OrderFilter(q=q, status="PENDING"), limit=2)
            assert [r.id for r in pending.rows] == [ids[2], ids[1]], q


def test_a_customer_page_holds_all_their_orders_and_totals(db, shop):
    with Session(db) as s:
        view = customer_view(s, shop["budi"].id)
        rows = search_orders(s, OrderFilter(customer_id=shop["budi"].id)).rows
        assert customer_view(s, 999999) is None
    assert view.display_name == "Budi Santoso" and view.orders == 2
    assert view.paid_twd == 0  # nothing paid yet
    assert sorted(r.id for r in rows) == sorted([shop["first"], shop["second"]])
    assert {r.customer_name for r in rows} == {"Budi Santoso"}


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_orders_csv_of_today_holds_todays_orders_and_not_yesterdays(db, shop):
    with Session(db) as s:
        s.execute(
            update(Payment)
            .where(Payment.id == shop["third"])
            .values(created_at=datetime.now(UTC) - timedelta(days=2))
        )
        s.commit()
        today = datetime.now(TAIPEI).date()
        rows = _csv(to_csv(orders_rows(s, *export_range(None, None))))
    assert [r["order"] for r in rows] == [f"#{shop['first']}", f"#{shop['second']}"]
    assert rows[0]["customer"] == "Budi Santoso" and rows[0]["targets"] == "081377778888"
    assert rows[0]["products"] == "Telkomsel 10.000" and rows[0]["status"] == "PENDING"
    with Session(db) as s:
        older = _csv(to_csv(orders_rows(s, *export_range(today - timedelta(days=3), today))))
    assert len(older) == 3


def test_export_ranges_refuse_backwards_and_overlong_ranges():
    today = datetime.now(TAIPEI).date()
    with pytest.raises(InvalidRequest, match="after To"):
        export_range(today, today - timedelta(days=1))
    with pytest.raises(InvalidRequest, match="at most 366 days"):
        export_range(today - timedelta(days=400), today)


def test_refunds_and_audit_csv_hold_the_days_moves(db, shop):
    from esa_domain.core.transitions import transition_payment

    with UnitOfWork(db) as uow:
        op = create_operator(uow.session, "auditor", "long-password-1", role="admin")
        record_action(uow.session, op.id, "refund", payment_id=shop["first"], reason='=HYPERLINK("x")')
        uow.commit()
    with Session(db) as s:
        for to in ("PAID", "FAILED", "REFUND_PENDING"):
            transition_payment(s, shop["first"], to, cause=f"test: {to}", actor="operator:auditor")
        s.commit()
        start, end = export_range(None, None)
        refunds = _csv(to_csv(refunds_rows(s, start, end)))
        audit = _csv(to_csv(audit_rows(s, start, end)))
    assert [(r["order"], r["to_status"], r["by"]) for r in refunds] == [
        (f"#{shop['first']}", "REFUND_PENDING", "operator:auditor")
    ]
    assert [(r["operator"], r["action"], r["order"]) for r in audit] == [
        ("auditor", "refund", f"#{shop['first']}")
    ]
    assert audit[0]["reason"].startswith("'=")  # a spreadsheet reads it as text, never as a formula
    with Session(db) as s:
        assert len(s.exec(select(OperatorAction)).all()) == 1


def test_item_numbers_are_their_orders_number_and_place(db, shop):
    from esa_domain.views.orders import item_numbers

    with UnitOfWork(db) as uow:
        two = place_order(
            uow,
            OrderRequest(
                shop["siti"].id,
                uuid.uuid4().hex,
                (OrderLine("TSEL10", "081211112222"), OrderLine("PLN20", "12345678901")),
            ),
        )
        uow.commit()
    with Session(db) as s:
        items = s.exec(
            select(PaymentItem).where(PaymentItem.payment_id == two.payment_id).order_by(PaymentItem.id)
        ).all()
        numbers = item_numbers(s, [items[1].id, items[0].id])
    assert numbers == {items[0].id: f"#{two.payment_id}-1", items[1].id: f"#{two.payment_id}-2"}
