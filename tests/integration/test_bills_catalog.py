"""Bills in the catalogue (issue 16): IAK's postpaid price list read by the catalog sync, and the demo's bills
(PLN postpaid, BPJS Kesehatan, PDAM by region, Telkomsel Halo) working end to end in the simulators with the
sandbox numbers IAK documents (iak-id/iak-api-reference-docs, docs/postpaid/core/product/*/inquiry.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from esa_domain.adapters.suppliers.iak.adapter import IakAdapter
from esa_domain.catalog.pricing import PricingRule, preview, stop_below_cost
from esa_domain.catalog.sync import sync_supplier_catalog
from esa_domain.core.errors import InvalidRequest
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Customer, Product, ProductCategory, Supplier, SupplierOffer
from esa_domain.ordering.bills import inquire, place_bill_order
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from sandbox import demo_data
from sandbox import iak as iak_sim
from tests import factories
from tests.servers import free_port
from tests.supplier_world import drain, pay, start_world

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _adapter(prepaid: str, postpaid: str) -> IakAdapter:
    return IakAdapter(
        username=iak_sim.DEFAULT_USERNAME,
        api_key=iak_sim.DEFAULT_API_KEY,
        prepaid_url=prepaid,
        postpaid_url=postpaid,
    )


def _bill_offers(db, cat) -> None:
    with Session(db) as s:
        bills = ProductCategory(code="bpjs", name="BPJS", kind="postpaid")
        s.add(bills)
        s.flush()
        for code, sku in (("BPJSKES", "BPJS"), ("GONE", "NOSUCHBILL")):
            p = Product(code=code, category_id=bills.id, name=code, price_twd=1, target_kind="customer_no")
            s.add(p)
            s.flush()
            s.add(SupplierOffer(supplier_id=cat["iak"].id, product_id=p.id, supplier_sku=sku, cost_idr=9_999))
        s.commit()


def _offers(db) -> dict[str, tuple[int, bool]]:
    with Session(db) as s:
        rows = s.exec(select(SupplierOffer).join(Supplier).where(Supplier.code == "iak")).all()
        return {o.supplier_sku: (o.cost_idr, o.available) for o in rows}


def test_iak_sync_reads_the_postpaid_price_list(db, run_asgi):
    cat = factories.catalog(db)
    _bill_offers(db, cat)
    url = run_asgi(iak_sim.create_app())
    summary = sync_supplier_catalog(
        lambda: UnitOfWork(db), "iak", _adapter(url, url), public_url="x", now=NOW
    )
    assert summary["status"] == "ok" and "postpaid_error" not in summary
    offers = _offers(db)
    # BPJS in the simulator's pricelist-pasca: fee 2500, komisi 100 -> it costs us 2400 on top of the bill
    assert offers["BPJS"] == (2_400, True)
    assert offers["NOSUCHBILL"] == (9_999, False)  # not in the list: unavailable
    assert offers["htelkomsel10000"] == (10_450, True)  # the prepaid list as before


def test_an_unreadable_postpaid_list_leaves_the_bills_as_they_were_and_the_top_ups_synced(db, run_asgi):
    cat = factories.catalog(db)
    _bill_offers(db, cat)
    url = run_asgi(iak_sim.create_app())
    dead = f"http://127.0.0.1:{free_port()}"
    summary = sync_supplier_catalog(
        lambda: UnitOfWork(db), "iak", _adapter(url, dead), public_url="x", now=NOW
    )
    assert summary["status"] == "ok" and "postpaid price list" in summary["postpaid_error"]
    offers = _offers(db)
    assert offers["BPJS"] == (9_999, True) and offers["NOSUCHBILL"] == (9_999, True)
    assert offers["htelkomsel10000"] == (10_450, True)


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


# the documented success numbers (docs/postpaid/core/product/<bill>/inquiry.md "Test Case"), and what they show
DEMO_BILLS = {
    "BPJSKES": ("8801234560001", 2, "VERGIE", "02", 50_000),  # bpjs-kesehatan: month 2 of the docs' example
    "PDAMSBY": ("10202001", None, "DADANG SOEKARDI", "201412", 35_490),  # pdam: PDAMKOTA.SURABAYA
    "PLNPOST": ("530000000001", None, "SIMULATED CUSTOMER", "202501", 150_000),  # pln: IAK's PLN magic number
    "HALO": ("08991234501", None, "SIMULATED CUSTOMER", "202501", 150_000),  # telco: HPTHREE's test number
}


def test_the_demo_bills_are_inquired_paid_and_delivered_in_the_simulators(db, world):
    world.reset()
    assert demo_data.seed(lambda: UnitOfWork(db), say=lambda _: None, orders=0)
    with Session(db) as s:
        cust = s.exec(select(Customer)).first()
        kinds = dict(s.exec(select(Product.code, ProductCategory.kind).join(ProductCategory)).all())
    assert {"PLNPOST", "BPJSKES", "PDAMSBY", "PDAMBDG", "HALO"} <= {
        c for c, k in kinds.items() if k == "postpaid"
    }
    ctx = world.context(db)
    for code, (number, months, name, period, bill) in DEMO_BILLS.items():
        with UnitOfWork(db) as uow:
            q = inquire(
                uow, ctx.adapters, customer_id=cust.id, product_code=code, customer_no=number, months=months
            )
        assert (q.status, q.customer_name, q.periods, q.bill_idr) == ("QUOTED", name, period, bill), code
        with UnitOfWork(db) as uow:
            placed = place_bill_order(
                uow, customer_id=cust.id, inquiry_id=q.id, idempotency_key=f"demo-{code}"
            )
        pay(db, placed.payment_id)
        assert drain(ctx, db, placed.item_ids[0]) == "SUCCESS", code
    # a bill cannot be ordered as a top-up at the catalogue's placeholder price
    with UnitOfWork(db) as uow, pytest.raises(InvalidRequest, match="is a bill"):
        place_order(uow, OrderRequest(cust.id, "as-top-up", (OrderLine("PDAMBDG", "10202001"),)))


def test_no_pricing_rule_prices_a_bill_or_takes_it_off_sale(db):
    # a bill's catalogue price (1) is below its offer's cost, and still it is neither repriced nor stopped: its price
    # is its inquiry's
    cat = factories.catalog(db)
    _bill_offers(db, cat)
    with Session(db) as s:
        _, proposals = preview(s, PricingRule())
        assert {"BPJSKES", "GONE"}.isdisjoint({p.code for p in proposals})
        assert "TSEL10" in {p.code for p in proposals}
        stopped = stop_below_cost(s, None)
        s.commit()
    assert "BPJSKES" not in stopped
    with Session(db) as s:
        assert s.exec(select(Product.active).where(Product.code == "BPJSKES")).one()
