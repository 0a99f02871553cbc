"""The demo's data: a game voucher sold with a PIN and a game that needs a zone, each served by more than one
supplier, and every delivered demo item with its delivery (sealed where secret)."""

from __future__ import annotations

from sqlalchemy import func, text
from sqlmodel import Session, select

from esa_domain.fulfillment.delivery import deliveries_for
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import PaymentItem, Product, Supplier, SupplierOffer
from sandbox import demo_data, iak, lapakgaming


def test_demo_catalog_and_deliveries(db):
    assert demo_data.seed(lambda: UnitOfWork(db), say=lambda _: None, orders=40)
    with Session(db) as s:
        offers = dict(
            s.exec(
                select(Product.code, func.count())
                .join(SupplierOffer, SupplierOffer.product_id == Product.id)
                .group_by(Product.code)
            ).all()
        )
        steam = s.exec(
            select(Supplier.code, SupplierOffer.supplier_sku)
            .join(SupplierOffer, SupplierOffer.supplier_id == Supplier.id)
            .join(Product, Product.id == SupplierOffer.product_id)
            .where(Product.code == "STEAM12")
        ).all()
        zone_kind = s.exec(select(Product.target_kind).where(Product.code == "ML86")).one()
        delivered = s.exec(
            select(PaymentItem.id, PaymentItem.artifact).where(PaymentItem.status == "SUCCESS")
        ).all()
        got = deliveries_for(s, [i for i, _ in delivered])
        sealed = (
            s.connection()
            .execute(text("SELECT count(*) FROM item_deliveries WHERE pin_enc LIKE 'v1:%'"))
            .scalar_one()
        )
    # a voucher with a PIN at IAK (its simulator sells it with one), also at Lapak Gaming
    assert sorted(steam) == [("iak", "hsteam12000"), ("lapakgaming", "STEAM12-S9")]
    assert any(p.code == "hsteam12000" and p.voucher for p in iak.PRODUCTS)
    assert any(p.code == "STEAM12-S9" and p.voucher for p in lapakgaming.PRODUCTS)
    # a game that needs a zone, at three suppliers
    assert zone_kind == "game_id_zone" and offers["ML86"] == 3
    # every delivered item has its delivery; what lists show is its token or serial
    assert delivered and set(got) == {i for i, _ in delivered}
    assert all(artifact in (got[i].token, got[i].serial) for i, artifact in delivered)
    assert sealed == sum(1 for d in got.values() if d.pin)
