"""Bills (issue 16): an inquiry as its own lifecycle, a quote priced from the bill, and an order that pays exactly
the bill the customer saw, once.

Real PostgreSQL, our API and the supplier simulators on real ports (tests/supplier_world.py). The numbers are
IAK's own sandbox test numbers (iak-id/iak-api-reference-docs, docs/postpaid/core/product/bpjs-kesehatan/
inquiry.md "Test Case": 8801234560001 success, ...0003 inquiry timeout, ...0004 invoice has been paid, ...0006
payment failed) and the PLN postpaid magic numbers the simulator already honoured (530000000009: the first
inquiry expires before its payment; 530000000010, the simulator's own: and the fresh one asks more).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from esa_domain.core.errors import NotFoundError
from esa_domain.fulfillment.engine import FulfillmentContext, advance_item, check_attempt
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import BillInquiry, Product, ProductCategory, Supplier, SupplierOffer
from esa_domain.operations import reconciliation
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.ordering.bills import (
    BillQuoteExpired,
    BillQuoteUsed,
    expire_quotes,
    inquire,
    place_bill_order,
)
from tests.factories import customer
from tests.supplier_world import catalog, drain, pay, start_world

BPJS_OK, BPJS_TIMEOUT, BPJS_PAID, BPJS_PAY_FAILED = (f"880123456000{n}" for n in (1, 3, 4, 6))
PLN_EXPIRES, PLN_AMOUNT_CHANGES = "530000000009", "530000000010"


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


@pytest.fixture
def shop(db, world):
    """The standard catalogue plus two bills: BPJS Kesehatan (IAK the cheapest; BillFazz carries it too, dearer:
    it never pays a bill IAK was asked about) and PLN postpaid (IAK only)."""
    world.reset()
    catalog(db)
    with Session(db) as s:
        bills = ProductCategory(code="bills", name="Tagihan", kind="postpaid")
        s.add(bills)
        s.flush()
        bpjs = Product(
            code="BPJS", category_id=bills.id, name="BPJS Kesehatan", price_twd=1, target_kind="customer_no"
        )
        pln = Product(
            code="PLNPOST",
            category_id=bills.id,
            name="PLN Pascabayar",
            price_twd=1,
            target_kind="customer_no",
        )
        s.add_all([bpjs, pln])
        s.flush()
        sup = {x.code: x for x in s.exec(select(Supplier)).all()}
        s.add_all(
            [
                SupplierOffer(
                    supplier_id=sup["iak"].id, product_id=bpjs.id, supplier_sku="BPJS", cost_idr=2500
                ),
                SupplierOffer(
                    supplier_id=sup["billfazz"].id, product_id=bpjs.id, supplier_sku="BPJSKS", cost_idr=2750
                ),
                SupplierOffer(
                    supplier_id=sup["iak"].id, product_id=pln.id, supplier_sku="PLNPOSTPAID", cost_idr=2500
                ),
            ]
        )
        s.commit()
    return customer(db)


def _ctx(world, db) -> FulfillmentContext:
    return world.context(db)


def _inquire(world, db, cust, product: str, number: str, months: int | None = None, now=None):
    ctx = _ctx(world, db)
    with UnitOfWork(db) as uow:
        return inquire(
            uow,
            ctx.adapters,
            customer_id=cust.id,
            product_code=product,
            customer_no=number,
            months=months,
            now=now,
        )


def _order(db, cust, inquiry_id: int, key: str, now=None):
    with UnitOfWork(db) as uow:
        return place_bill_order(uow, customer_id=cust.id, inquiry_id=inquiry_id, idempotency_key=key, now=now)


def _iak_ledger(world) -> list[dict]:
    return httpx.get(f"{world.sims['iak']}/_sandbox/ledger").json()["transactions"]


def _history(db, inquiry_id: int) -> list[tuple]:
    with db.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                text(
                    "SELECT from_status, to_status FROM bill_inquiry_history WHERE inquiry_id = :i ORDER BY id"
                ),
                {"i": inquiry_id},
            )
        ]


def _attempts(db, item_id: int) -> list[tuple]:
    with db.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                text(
                    "SELECT s.code, a.state, a.supplier_code FROM item_attempts a JOIN suppliers s ON s.id = a.supplier_id"
                    " WHERE a.item_id = :i ORDER BY a.id"
                ),
                {"i": item_id},
            )
        ]


def test_a_bpjs_bill_for_two_months_is_quoted_from_the_bill_and_paid_once_with_its_inquiry(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_OK, months=2)
    # the docs' example answer for month 2: VERGIE, period "02", 50000 + 2500 admin = 52500, 52300 deducted here
    # as 52350 (the simulator deducts 150 less than the price)
    assert (q.status, q.customer_name, q.periods) == ("QUOTED", "VERGIE", "02")
    assert (q.bill_idr, q.admin_idr, q.price_idr) == (50_000, 2_500, 52_500)
    # 52350 IDR x 0.002 = 104.70 TWD; margin max(8% = 8.376, 2) -> 113.076, rounded up: NT$114
    assert q.amount_twd == 114
    assert q.expires_at is not None
    assert _history(db, q.id) == [(None, "REQUESTED"), ("REQUESTED", "QUOTED")]
    with Session(db) as s:
        row = s.get(BillInquiry, q.id)
        body = row.request_json["body"]
        assert body["month"] == "2" and body["hp"] == BPJS_OK and body["commands"] == "inq-pasca"
        assert (
            body["sign"] == body["username"]
        )  # both masked alike: neither the signature nor the account kept
        assert "081200000001" not in str(row.request_json)  # IAK's username is the account's phone: redacted
        assert row.response_json["data"]["tr_name"] == "VERGIE"
        tr_id = row.supplier_txn_id

    placed = _order(db, shop, q.id, "bill-1")
    assert placed.amount_twd == 114
    with Session(db) as s:
        assert s.get(BillInquiry, q.id).payment_item_id == placed.item_ids[0]
    assert _history(db, q.id)[-1] == ("QUOTED", "USED")

    pay(db, placed.payment_id)
    assert drain(_ctx(world, db), db, placed.item_ids[0]) == "SUCCESS"
    # paid at IAK (not BillFazz, which carries it too), once, under the inquiry's tr_id: the bill shown is the bill paid
    assert [a[0] for a in _attempts(db, placed.item_ids[0])] == ["iak"]
    paid = [t for t in _iak_ledger(world) if t["target"] == BPJS_OK]
    assert len(paid) == 1 and paid[0]["supplier_txn_id"] == tr_id and paid[0]["cost"] == 52_350
    with db.connect() as c:
        sent = (
            c.execute(
                text(
                    "SELECT request_json FROM supplier_exchanges WHERE operation = 'purchase' AND attempt_id IS NOT NULL"
                )
            )
            .scalars()
            .all()
        )
    assert [r["body"]["commands"] for r in sent] == ["pay-pasca"] and sent[0]["body"]["tr_id"] == tr_id


def test_an_order_from_one_quote_twice_is_refused_and_the_same_key_replays(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_OK)
    first = _order(db, shop, q.id, "k1")
    assert _order(db, shop, q.id, "k1").payment_id == first.payment_id  # a retry of the same request
    with pytest.raises(BillQuoteUsed):
        _order(db, shop, q.id, "k2")
    other = customer(db, "U-someone-else")
    with pytest.raises(NotFoundError):
        _order(db, other, q.id, "k3")
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM payments")).scalar_one() == 1


def test_two_orders_racing_for_one_quote_write_one_order(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_OK)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def race(key: str) -> None:
        barrier.wait()
        try:
            results.append(_order(db, shop, q.id, key))
        except BillQuoteUsed as exc:
            results.append(exc)

    threads = [threading.Thread(target=race, args=(f"race-{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not isinstance(r, BillQuoteUsed) for r in results) == 1
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM payments")).scalar_one() == 1
        assert c.execute(text("SELECT count(*) FROM payment_items")).scalar_one() == 1


def test_an_expired_quote_is_refused_and_a_fresh_inquiry_is_needed(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_OK)
    with pytest.raises(BillQuoteExpired):
        _order(db, shop, q.id, "late", now=q.expires_at + timedelta(seconds=1))
    with Session(db) as s:
        assert s.get(BillInquiry, q.id).status == "EXPIRED"
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM payments")).scalar_one() == 0


def test_no_bill_or_no_answer_is_kept_and_cannot_be_ordered(db, world, shop):
    # "invoice has been paid" is the bill's own answer: no other supplier is asked
    paid_already = _inquire(world, db, shop, "BPJS", BPJS_PAID)
    assert paid_already.status == "NOT_FOUND" and paid_already.amount_twd is None
    # PLN postpaid is carried by IAK alone, whose inquiry times out (530000000003): nothing to order
    timeout = _inquire(world, db, shop, "PLNPOST", "530000000003")
    assert timeout.status == "FAILED"
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM bill_inquiries")).scalar_one() == 2
    for q in (paid_already, timeout):
        with pytest.raises(BillQuoteExpired):
            _order(db, shop, q.id, f"k{q.id}")
    assert _history(db, paid_already.id) == [(None, "REQUESTED"), ("REQUESTED", "NOT_FOUND")]


def test_an_inquiry_expired_at_the_supplier_is_asked_again_and_paid_once_at_the_same_amount(db, world, shop):
    q = _inquire(world, db, shop, "PLNPOST", PLN_EXPIRES)
    placed = _order(db, shop, q.id, "pln-expired")
    pay(db, placed.payment_id)
    assert drain(_ctx(world, db), db, placed.item_ids[0]) == "SUCCESS"
    paid = [t for t in _iak_ledger(world) if t["target"] == PLN_EXPIRES]
    assert len(paid) == 1 and paid[0]["status"] == "success" and paid[0]["cost"] == q.price_idr - 150


def test_a_bill_whose_amount_changed_is_not_paid_and_the_item_fails(db, world, shop):
    q = _inquire(world, db, shop, "PLNPOST", PLN_AMOUNT_CHANGES)
    placed = _order(db, shop, q.id, "pln-changed")
    pay(db, placed.payment_id)
    assert drain(_ctx(world, db), db, placed.item_ids[0]) == "FAILED"
    assert [t for t in _iak_ledger(world) if t["target"] == PLN_AMOUNT_CHANGES] == []
    assert [a[0] for a in _attempts(db, placed.item_ids[0])] == ["iak"]  # no other supplier tried
    with db.connect() as c:
        status = c.execute(
            text("SELECT status FROM payments WHERE id = :p"), {"p": placed.payment_id}
        ).scalar_one()
    assert status in ("FAILED", "REFUND_PENDING", "REFUNDED", "NEEDS_REVIEW")


def test_payment_failed_rc_07_fails_the_item_without_trying_another_supplier(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_PAY_FAILED)
    placed = _order(db, shop, q.id, "bpjs-07")
    pay(db, placed.payment_id)
    assert drain(_ctx(world, db), db, placed.item_ids[0]) == "FAILED"
    assert _attempts(db, placed.item_ids[0]) == [("iak", "FAILED", "07")]
    assert not [t for t in world.delivered() if t["target"] == BPJS_PAY_FAILED]


class _Crash(BaseException):  # the process dies: nothing in it catches this
    pass


class _DiesAfterSending:
    """IAK, in a worker that dies once the payment has left and before its answer is recorded."""

    def __init__(self, real) -> None:
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def purchase(self, request):
        self._real.purchase(request)
        raise _Crash


def test_crash_after_the_payment_left_the_bill_is_checked_never_paid_again(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_OK)
    placed = _order(db, shop, q.id, "crash")
    item = placed.item_ids[0]
    pay(db, placed.payment_id)
    ctx = _ctx(world, db)
    dying = FulfillmentContext(
        ctx.uow, {**ctx.adapters, "iak": _DiesAfterSending(ctx.adapters["iak"])}, ctx.public_url, ctx.policy
    )
    with pytest.raises(_Crash):
        advance_item(dying, item)
    assert _attempts(db, item) == [("iak", "SENDING", None)]
    # the reconciler finds the item stalled and asks the supplier before anything else
    reconciliation._items(ctx.uow, datetime.now(UTC) + timedelta(hours=1), ReconcilePolicy(), Counter())
    assert drain(ctx, db, item) == "SUCCESS"
    with db.connect() as c:
        (attempt_id,) = c.execute(text("SELECT id FROM item_attempts WHERE item_id = :i"), {"i": item}).one()
    check_attempt(ctx, attempt_id)  # a late duplicate message changes nothing
    assert [t["status"] for t in _iak_ledger(world) if t["target"] == BPJS_OK] == ["success"]
    assert _attempts(db, item) == [("iak", "SUCCESS", "00")]
    with pytest.raises(BillQuoteUsed):
        _order(db, shop, q.id, "crash-again")


FAULTS = ["9903", "9904", "9905", "9906", "9907", "9910", "9911", "0000"]  # sandbox/behaviours.py suffixes


@pytest.mark.parametrize("suffix", FAULTS)
def test_exactly_one_bill_payment_per_item_under_the_fault_matrix(db, world, shop, suffix):
    # pending then success/failure, a timeout that still pays, a 5xx that still pays, no callback, slow, no
    # balance, plain: whatever the answer, the bill is paid at most once, only where it was inquired, and the
    # item ends delivered exactly when the simulator's ledger says it was paid
    number = f"77001234{suffix}"
    q = _inquire(world, db, shop, "BPJS", number)
    assert q.status == "QUOTED"
    placed = _order(db, shop, q.id, f"fault-{suffix}")
    pay(db, placed.payment_id)
    status = drain(_ctx(world, db), db, placed.item_ids[0], timeout=40)
    assert status in ("SUCCESS", "FAILED"), status
    paid = [t for t in _iak_ledger(world) if t["target"] == number and t["status"] == "success"]
    assert len(paid) == (1 if status == "SUCCESS" else 0)
    assert {a[0] for a in _attempts(db, placed.item_ids[0])} == {"iak"}
    assert not [t for t in world.delivered() if t["target"] == number and t["supplier"] != "iak"]


def test_the_cheapest_supplier_that_carries_the_bill_is_asked_and_pays_it_by_its_inquiry_id(db, world, shop):
    # BillFazz carries PLN postpaid cheaper than IAK: it is asked, and the payment names its inquiryId
    with Session(db) as s:
        pln = s.exec(select(Product).where(Product.code == "PLNPOST")).one()
        bf = s.exec(select(Supplier).where(Supplier.code == "billfazz")).one()
        s.add(SupplierOffer(supplier_id=bf.id, product_id=pln.id, supplier_sku="PLNPASCA", cost_idr=1_000))
        s.commit()
    number = "5311223344"
    q = _inquire(world, db, shop, "PLNPOST", number)
    assert (q.status, q.customer_name, q.bill_idr, q.admin_idr) == (
        "QUOTED",
        "SIMULATED CUSTOMER",
        150_000,
        2_750,
    )
    with Session(db) as s:
        row = s.get(BillInquiry, q.id)
        assert s.get(Supplier, row.supplier_id).code == "billfazz" and row.supplier_txn_id
    placed = _order(db, shop, q.id, "bf-bill")
    pay(db, placed.payment_id)
    assert drain(_ctx(world, db), db, placed.item_ids[0]) == "SUCCESS"
    assert [a[0] for a in _attempts(db, placed.item_ids[0])] == ["billfazz"]
    paid = [t for t in world.delivered() if t["target"] == number]
    assert [t["supplier"] for t in paid] == ["billfazz"] and paid[0]["cost"] == 152_750


def test_a_supplier_that_cannot_answer_hands_the_inquiry_to_the_next_that_carries_the_bill(db, world, shop):
    # IAK times out on BPJS 8801234560003 (its documented test case): nothing was paid there, so BillFazz, which
    # carries BPJS too, is asked; the order pays BillFazz's bill, at BillFazz only
    q = _inquire(world, db, shop, "BPJS", BPJS_TIMEOUT, months=1)
    assert (q.status, q.customer_name, q.bill_idr) == ("QUOTED", "SIMULATED CUSTOMER", 150_000)
    with db.connect() as c:
        asked = c.execute(
            text(
                "SELECT s.code, b.status FROM bill_inquiries b JOIN suppliers s ON s.id = b.supplier_id ORDER BY b.id"
            )
        ).all()
    assert [tuple(r) for r in asked] == [("iak", "FAILED"), ("billfazz", "QUOTED")]
    placed = _order(db, shop, q.id, "handed-over")
    pay(db, placed.payment_id)
    assert drain(_ctx(world, db), db, placed.item_ids[0]) == "SUCCESS"
    assert [a[0] for a in _attempts(db, placed.item_ids[0])] == ["billfazz"]
    assert [t["supplier"] for t in world.delivered() if t["target"] == BPJS_TIMEOUT] == ["billfazz"]


def test_quotes_past_their_time_are_swept_to_expired_once(db, world, shop):
    q = _inquire(world, db, shop, "BPJS", BPJS_OK)
    with UnitOfWork(db) as uow:
        assert expire_quotes(uow, now=q.expires_at - timedelta(seconds=1)) == 0
    with UnitOfWork(db) as uow:
        assert expire_quotes(uow, now=q.expires_at + timedelta(seconds=1)) == 1
    with UnitOfWork(db) as uow:
        assert expire_quotes(uow, now=q.expires_at + timedelta(seconds=2)) == 0
    assert _history(db, q.id)[-1] == ("QUOTED", "EXPIRED")
