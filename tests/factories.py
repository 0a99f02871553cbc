"""Small builders for rows the tests need; each commits, so concurrent tests see them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session

from esa_domain.models import Customer, FxRate, Product, ProductCategory, Promo, Supplier, SupplierOffer


def add(engine: Engine, *rows):
    with Session(engine, expire_on_commit=False) as s:
        for r in rows:
            s.add(r)
        s.commit()
        for r in rows:
            s.refresh(r)
    return rows[0] if len(rows) == 1 else rows


def catalog(engine: Engine, *, rate: str = "0.00200", rate_age: timedelta = timedelta(minutes=5)) -> dict:
    """A pulsa product, a PLN product and a game product, two suppliers with offers, a fresh FX rate."""
    pulsa_cat = add(engine, ProductCategory(code="pulsa", name="Pulsa"))
    game_cat = add(engine, ProductCategory(code="games", name="Games", is_game=True))
    pln_cat = add(engine, ProductCategory(code="pln", name="PLN token"))
    pulsa = add(
        engine,
        Product(
            code="TSEL10",
            category_id=pulsa_cat.id,
            name="Telkomsel 10.000",
            price_twd=25,
            nominal_idr=10000,
            target_kind="phone",
        ),
    )
    pln = add(
        engine,
        Product(
            code="PLN20",
            category_id=pln_cat.id,
            name="PLN 20.000",
            price_twd=45,
            nominal_idr=20000,
            target_kind="pln_meter",
        ),
    )
    game = add(
        engine,
        Product(
            code="ML86",
            category_id=game_cat.id,
            name="Mobile Legends 86 diamonds",
            price_twd=70,
            target_kind="game_id_zone",
        ),
    )
    off = add(
        engine,
        Product(
            code="OFF1",
            category_id=pulsa_cat.id,
            name="Withdrawn",
            price_twd=10,
            target_kind="phone",
            active=False,
        ),
    )
    iak = add(engine, Supplier(code="iak", name="IAK"))
    lapak = add(engine, Supplier(code="lapakgaming", name="Lapak Gaming", fee_twd=1))
    add(
        engine,
        SupplierOffer(
            supplier_id=iak.id, product_id=pulsa.id, supplier_sku="htelkomsel10000", cost_idr=10200
        ),
        SupplierOffer(supplier_id=lapak.id, product_id=pulsa.id, supplier_sku="TSEL10-S1", cost_idr=10100),
        SupplierOffer(supplier_id=iak.id, product_id=pln.id, supplier_sku="hpln20000", cost_idr=20300),
        SupplierOffer(supplier_id=lapak.id, product_id=game.id, supplier_sku="ML86-S1", cost_idr=21000),
        SupplierOffer(supplier_id=iak.id, product_id=off.id, supplier_sku="x", cost_idr=5000),
    )
    fx = add(
        engine,
        FxRate(pair="IDR/TWD", rate=Decimal(rate), source="test", fetched_at=datetime.now(UTC) - rate_age),
    )
    return {"pulsa": pulsa, "pln": pln, "game": game, "inactive": off, "iak": iak, "lapak": lapak, "fx": fx}


def customer(engine: Engine, line_user_id: str = "U-test-1") -> Customer:
    return add(engine, Customer(line_user_id=line_user_id, display_name="Test customer"))


def promo(engine: Engine, **kw) -> Promo:
    kw.setdefault("code", "HEMAT10")
    kw.setdefault("kind", "percent")
    kw.setdefault("value", 10)
    return add(engine, Promo(**kw))
