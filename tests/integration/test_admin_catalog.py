"""Setting up the shop from nothing: a supplier from the registry, a category, a product, its SKU, a price from a
rule at the current rate, and sale stopped below cost; every change audited, bad input writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from esa_domain.catalog import admin, pricing
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import FxRate, Operator, OperatorAction, Product, Supplier, SupplierOffer
from esa_domain.operations.operators import create_operator
from tests import factories

REGISTERED = {"iak": True, "lapakgaming": False}


@pytest.fixture
def boss(db) -> Operator:
    with UnitOfWork(db) as uow:
        op = create_operator(uow.session, "boss", "long-password-1", role="admin")
        uow.commit()
    return op


def _do(db, change):
    with UnitOfWork(db) as uow:
        result = change(uow.session)
        uow.commit()
    return result


def _audit(db) -> list[str]:
    with Session(db) as s:
        return [a.action for a in s.exec(select(OperatorAction).order_by(OperatorAction.id)).all()]


def _shop(db, boss):
    supplier = _do(db, lambda s: admin.add_supplier(s, boss, "iak", "IAK", set(REGISTERED)))
    category = _do(db, lambda s: admin.save_category(s, boss, code="pulsa", name="Pulsa", sort_order="1"))
    product = _do(
        db,
        lambda s: admin.save_product(
            s, boss, code="TSEL10", category_id=category.id, name="Telkomsel 10.000", price_twd="30",
            target_kind="phone", nominal_idr="10000",
        ),
    )  # fmt: skip
    _do(
        db,
        lambda s: admin.map_sku(
            s, boss, product_id=product.id, supplier_id=supplier.id, sku="htelkomsel10000", cost_idr="10200"
        ),
    )
    return supplier, category, product


def test_an_admin_sets_up_a_supplier_category_product_and_sku_from_nothing(db, boss):
    supplier, _, product = _shop(db, boss)
    with Session(db) as s:
        assert s.get(Supplier, supplier.id).enabled is False  # added disabled: enabled once set up
        p = s.get(Product, product.id)
        assert (p.code, p.price_twd, p.active, p.target_kind) == ("TSEL10", 30, False, "phone")
        offer = s.exec(select(SupplierOffer)).one()
        assert (offer.supplier_sku, offer.cost_idr, offer.product_id) == (
            "htelkomsel10000",
            10200,
            product.id,
        )
        setup = {r.code: r for r in admin.supplier_setup(s, REGISTERED)}
    assert setup["iak"].offers == 1 and setup["iak"].configured
    assert setup["lapakgaming"].id is None  # registered, not in the shop yet
    assert _audit(db) == ["supplier_add", "category_save", "product_save", "sku_map"]


def test_a_supplier_without_credentials_cannot_be_enabled_and_a_reason_is_required(db, boss):
    lapak = _do(db, lambda s: admin.add_supplier(s, boss, "lapakgaming", "Lapak Gaming", set(REGISTERED)))
    with pytest.raises(admin.CatalogError, match="no credentials"):
        _do(db, lambda s: admin.set_supplier_enabled(s, boss, lapak.id, True, "go live", configured=False))
    with pytest.raises(admin.CatalogError, match="say why"):
        _do(db, lambda s: admin.set_supplier_enabled(s, boss, lapak.id, True, "", configured=True))
    _do(db, lambda s: admin.set_supplier_enabled(s, boss, lapak.id, True, "contract signed", configured=True))
    _do(db, lambda s: admin.set_supplier_fees(s, boss, lapak.id, "1", "250"))
    with Session(db) as s:
        got = s.get(Supplier, lapak.id)
        assert (got.enabled, got.fee_twd, got.fee_idr) == (True, 1, 250)
    assert _audit(db) == ["supplier_add", "supplier_enable", "supplier_fees"]
    with pytest.raises(admin.CatalogError, match="no adapter is registered"):
        _do(db, lambda s: admin.add_supplier(s, boss, "madeup", "Made up", set(REGISTERED)))


def test_bad_product_input_says_what_is_wrong_and_writes_nothing(db, boss):
    _, category, _ = _shop(db, boss)
    before = _audit(db)
    cases = [
        (dict(code="bad code!", price_twd="10", target_kind="phone"), "code must be"),
        (dict(code="X1", price_twd="0", target_kind="phone"), "at least 1"),
        (dict(code="X1", price_twd="ten", target_kind="phone"), "whole number"),
        (dict(code="X1", price_twd="10", target_kind="telepathy"), "the target is one of"),
        (dict(code="TSEL10", price_twd="10", target_kind="phone"), "already exists"),
    ]
    for kw, message in cases:
        with pytest.raises(admin.CatalogError, match=message):
            _do(db, lambda s, kw=kw: admin.save_product(s, boss, category_id=category.id, name="X", **kw))
    assert _audit(db) == before
    with Session(db) as s:
        assert len(s.exec(select(Product)).all()) == 1


def test_a_mapped_sku_cannot_be_given_to_a_second_product(db, boss):
    supplier, category, _ = _shop(db, boss)
    other = _do(
        db,
        lambda s: admin.save_product(
            s,
            boss,
            code="TSEL20",
            category_id=category.id,
            name="Telkomsel 20.000",
            price_twd="55",
            target_kind="phone",
        ),
    )
    with pytest.raises(admin.CatalogError, match="already mapped"):
        _do(
            db,
            lambda s: admin.map_sku(
                s, boss, product_id=other.id, supplier_id=supplier.id, sku="htelkomsel10000", cost_idr="1"
            ),
        )


def test_a_rule_prices_from_the_cheapest_usable_cost_at_the_current_rate(db, boss):
    supplier, _, product = _shop(db, boss)
    _do(db, lambda s: admin.set_supplier_enabled(s, boss, supplier.id, True, "live", configured=True))
    factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00200"), source="test", fetched_at=datetime.now(UTC))
    )
    rule = pricing.PricingRule.parse("10", "3", "5")
    with Session(db) as s:
        rate, proposals = pricing.preview(s, rule)
    # 10200 IDR x 0.002 = 20.40 TWD; 10% is 2.04 < the 3 TWD minimum: 23.40, rounded up to the 5 TWD step
    assert rate == Decimal("0.00200")
    assert [(p.code, p.cost_twd, p.proposed_twd) for p in proposals] == [("TSEL10", Decimal("20.4000"), 25)]
    with Session(db) as s:
        assert s.get(Product, product.id).price_twd == 30  # a preview writes nothing
    assert _do(db, lambda s: pricing.apply(s, boss, rule)) == 1
    with Session(db) as s:
        assert s.get(Product, product.id).price_twd == 25
        last = pricing.last_reprice(s)
    assert (last.rule, last.rate) == (rule, Decimal("0.00200"))
    # the rate moves 10%: the page shows it, and the same rule reprices
    factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00220"), source="test", fetched_at=datetime.now(UTC))
    )
    with Session(db) as s:
        assert pricing.fx_move_pct(s) == Decimal("10.00")


def test_sale_stops_for_a_product_below_cost(db, boss):
    supplier, category, product = _shop(db, boss)
    _do(db, lambda s: admin.set_supplier_enabled(s, boss, supplier.id, True, "live", configured=True))
    _do(
        db,
        lambda s: admin.save_product(
            s, boss, code="TSEL10", category_id=category.id, name="Telkomsel 10.000", price_twd="20",
            target_kind="phone", active=True, product_id=product.id,
        ),
    )  # fmt: skip
    factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00200"), source="test", fetched_at=datetime.now(UTC))
    )
    assert _do(db, lambda s: pricing.stop_below_cost(s, boss)) == ["TSEL10"]  # 20 < 20.40
    with Session(db) as s:
        p = s.get(Product, product.id)
        assert (p.active, p.disabled_reason) == (False, pricing.BELOW_COST_REASON)
    assert _audit(db)[-1] == "stop_below_cost"


@pytest.mark.parametrize(
    ("typed", "message"),
    [(("x", "1", "1"), "not a number"), (("-1", "1", "1"), "between 0 and 200"), (("8", "1", "0"), "step")],
)
def test_a_rule_typed_wrong_is_refused(typed, message):
    with pytest.raises(pricing.PricingError, match=message):
        pricing.PricingRule.parse(*typed)


def test_an_admin_creates_a_promo_a_customer_uses_it_once_and_it_can_be_stopped(db, boss):
    from esa_domain.ordering import promos
    from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order

    cat = factories.catalog(db)
    customer = factories.customer(db)
    promo = _do(
        db,
        lambda s: promos.create_promo(
            s,
            boss,
            code="hemat5",
            kind="amount",
            value="5",
            max_uses="100",
            min_order_twd="20",
            starts_on="2026-01-01",
        ),
    )
    assert promo.code == "HEMAT5"

    def order(key: str):
        with UnitOfWork(db) as uow:
            placed = place_order(
                uow,
                OrderRequest(
                    customer.id, key, (OrderLine(cat["pulsa"].code, "081377778888"),), promo_code="HEMAT5"
                ),
            )
            uow.commit()
        return placed

    order("first")
    with Session(db) as s:
        [row] = promos.promo_rows(s)
    assert (row.used_count, row.customers, row.discount_given_twd) == (1, 1, 5)
    with pytest.raises(Exception, match="already"):  # once per customer
        order("second")
    _do(db, lambda s: promos.set_promo_active(s, boss, promo.id, False))
    with pytest.raises(Exception, match="no longer offered"):
        order("third")
    assert [a for a in _audit(db) if a.startswith("promo")] == ["promo_create", "promo_stop"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "x", "kind": "percent", "value": "10"}, "3 to 40"),
        ({"code": "BIG", "kind": "percent", "value": "150"}, "at most 100"),
        ({"code": "BIG", "kind": "amount", "value": "0"}, "at least 1"),
        (
            {
                "code": "BIG",
                "kind": "amount",
                "value": "5",
                "starts_on": "2026-02-02",
                "ends_on": "2026-01-01",
            },
            "after",
        ),
        ({"code": "BIG", "kind": "amount", "value": "5", "ends_on": "31/01/2026"}, "not a date"),
    ],
)
def test_a_promo_typed_wrong_is_refused_and_nothing_is_written(db, boss, fields, message):
    from esa_domain.models import Promo
    from esa_domain.ordering import promos

    with pytest.raises(promos.PromoError, match=message):
        _do(db, lambda s: promos.create_promo(s, boss, **fields))
    with Session(db) as s:
        assert s.exec(select(Promo)).all() == []
    assert _audit(db) == []


def test_prices_follow_the_rate_past_the_threshold_and_nothing_keeps_selling_below_cost(db, boss):
    supplier, category, product = _shop(db, boss)
    _do(db, lambda s: admin.set_supplier_enabled(s, boss, supplier.id, True, "live", configured=True))
    _do(
        db,
        lambda s: admin.save_product(
            s, boss, code="TSEL10", category_id=category.id, name="Telkomsel 10.000", price_twd="30",
            target_kind="phone", active=True, product_id=product.id,
        ),
    )  # fmt: skip
    factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00200"), source="test", fetched_at=datetime.now(UTC))
    )
    rule = pricing.PricingRule.parse("10", "3", "5")
    _do(db, lambda s: pricing.apply(s, boss, rule))  # NT$25 at 0.002

    # a 1% move is under a 2% threshold: nothing changes
    factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00202"), source="test", fetched_at=datetime.now(UTC))
    )
    assert _do(db, lambda s: pricing.follow_fx(s, Decimal("2"))) == (0, [])
    # +25%: 10200 x 0.0025 = 25.50 > NT$25, so the product sells below cost; a threshold of 0 never reprices,
    # yet sale stops
    factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00250"), source="test", fetched_at=datetime.now(UTC))
    )
    assert _do(db, lambda s: pricing.follow_fx(s, Decimal("0"))) == (0, ["TSEL10"])
    with Session(db) as s:
        assert s.get(Product, product.id).active is False
    # with the threshold, the last rule prices it again: 25.50 + 3 = 28.50, rounded up to NT$30
    assert _do(db, lambda s: pricing.follow_fx(s, Decimal("2"))) == (1, [])
    with Session(db) as s:
        assert s.get(Product, product.id).price_twd == 30
        last = s.exec(
            select(OperatorAction)
            .where(OperatorAction.action == "reprice")
            .order_by(OperatorAction.id.desc())
        ).first()
    assert last.operator_id is None and "moved +25.00%" in last.reason
