"""Shop set-up, the rest of issue 18: SKUs the catalog sync found are kept and an admin adopts one onto a
product; a product's place in the customer's list and its daily hours, over the customer API. Real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from esa_domain.adapters.suppliers.base import CatalogEntry, CatalogResult
from esa_domain.catalog.admin import CatalogError
from esa_domain.catalog.discovered import adopt_sku, discovered
from esa_domain.catalog.display import TAIPEI, set_product_display
from esa_domain.catalog.sync import sync_supplier_catalog
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import OperatorAction, Product, Supplier, SupplierOffer
from esa_domain.models.business import DiscoveredSku
from esa_domain.operations.operators import create_operator
from tests import factories
from tests.integration.test_customer_api import build_api

PUBLIC = "https://esa.example"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class FakeCatalog:
    """The adapter seam: answers fetch_catalog with the given entries."""

    code = "fake"

    def __init__(self, entries: list[CatalogEntry]) -> None:
        self.entries = entries

    def fetch_catalog(self) -> CatalogResult:
        return CatalogResult(list(self.entries))


def _uow(db):
    return lambda: UnitOfWork(db)


def _operator(db, name: str, role: str = "admin"):
    with Session(db) as s:
        op = create_operator(s, name, "a-long-password-1", role)
        s.commit()
        s.refresh(op)
        s.expunge(op)
        return op


def _product(db, code: str) -> Product:
    with Session(db) as s:
        return s.exec(select(Product).where(Product.code == code)).one()


def _iak_offers(db) -> dict[str, tuple[str, int, bool]]:
    with Session(db) as s:
        rows = s.exec(
            select(SupplierOffer, Product.code)
            .join(Supplier, Supplier.id == SupplierOffer.supplier_id)
            .join(Product, Product.id == SupplierOffer.product_id)
            .where(Supplier.code == "iak")
        ).all()
        return {code: (o.supplier_sku, o.cost_idr, o.available) for o, code in rows}


def _actions(db, action: str) -> list[dict]:
    with Session(db) as s:
        return [a.detail for a in s.exec(select(OperatorAction).where(OperatorAction.action == action)).all()]


def test_skus_the_sync_found_are_kept_and_an_admin_adopts_one_onto_a_product(db):
    factories.catalog(
        db
    )  # IAK maps htelkomsel10000 (TSEL10), hpln20000 (PLN20, only IAK has it) and x (OFF1)
    entries = [
        CatalogEntry("htelkomsel10000", "Telkomsel 10.000", 10_200, True),
        CatalogEntry("x", "Withdrawn", 5_000, True),
        CatalogEntry("hpln20000b", "PLN 20.000 (new code)", 20_100, True, category="PLN"),
        CatalogEntry("hnew", "Not sold by us", 1_000, True),
        CatalogEntry("hfree", "No price yet", 0, False),
    ]
    summary = sync_supplier_catalog(_uow(db), "iak", FakeCatalog(entries), public_url=PUBLIC, now=NOW)
    assert summary["unknown_skus"] == 3 and summary["disabled"] == 1  # PLN20 lost its only offer
    assert not _product(db, "PLN20").active
    with Session(db) as s:
        found = {d.sku: d for d in discovered(s)}
    assert set(found) == {"hpln20000b", "hnew", "hfree"}
    assert (found["hpln20000b"].supplier, found["hpln20000b"].cost_idr, found["hpln20000b"].category) == (
        "iak", 20_100, "PLN",
    )  # fmt: skip

    # the next sync refreshes them (one row per SKU), with the catalog's newest cost
    later = NOW + timedelta(hours=1)
    entries[2] = CatalogEntry("hpln20000b", "PLN 20.000 (new code)", 20_050, True, category="PLN")
    sync_supplier_catalog(_uow(db), "iak", FakeCatalog(entries), public_url=PUBLIC, now=later)
    with Session(db) as s:
        rows = s.exec(select(DiscoveredSku).where(DiscoveredSku.supplier_sku == "hpln20000b")).all()
    assert [(r.cost_idr, r.last_seen_at) for r in rows] == [(20_050, later)]

    # a viewer may not adopt; a SKU without a price cannot be adopted; nothing is written by either
    viewer, admin = _operator(db, "vera", "viewer"), _operator(db, "ada")
    pln = _product(db, "PLN20")
    with Session(db) as s:
        with pytest.raises(PermissionError):
            adopt_sku(s, viewer, found["hpln20000b"].id, pln.id)
        with pytest.raises(CatalogError, match="no price"):
            adopt_sku(s, admin, found["hfree"].id, pln.id)
    assert _iak_offers(db)["PLN20"] == ("hpln20000", 20_300, False)

    # the admin adopts the new code onto PLN20: IAK's offer for it is that SKU at the catalog's cost, audited
    with UnitOfWork(db) as uow:
        offer = adopt_sku(uow.session, admin, found["hpln20000b"].id, pln.id)
        uow.commit()
    assert _iak_offers(db)["PLN20"] == ("hpln20000b", 20_050, True)
    with Session(db) as s:
        assert {d.sku for d in discovered(s)} == {"hnew", "hfree"}
        row = s.get(DiscoveredSku, found["hpln20000b"].id)
        assert row.adopted_offer_id == offer.id and row.adopted_at is not None
    [detail] = _actions(db, "sku_adopt")
    assert (detail["sku"], detail["product"], detail["cost_idr"]) == ("hpln20000b", "PLN20", 20_050)
    with Session(db) as s, pytest.raises(CatalogError, match="already adopted"):
        adopt_sku(s, admin, found["hpln20000b"].id, pln.id)

    # the next sync matches it like any offer and puts PLN20 back on sale
    summary = sync_supplier_catalog(_uow(db), "iak", FakeCatalog(entries), public_url=PUBLIC, now=later)
    assert summary["enabled"] == 1 and summary["unknown_skus"] == 2
    assert _product(db, "PLN20").active


def test_an_adopted_sku_already_mapped_elsewhere_is_refused(db):
    factories.catalog(db)
    entries = [CatalogEntry("hnew", "Telkomsel 10.000 promo", 9_900, True)]
    sync_supplier_catalog(_uow(db), "iak", FakeCatalog(entries), public_url=PUBLIC, now=NOW)
    admin = _operator(db, "ada")
    with Session(db) as s:
        [found] = discovered(s)
    with Session(db) as s:  # mapped by hand onto ML86 meanwhile: no longer waiting for adoption
        s.add(SupplierOffer(supplier_id=found_supplier(s), product_id=_product(db, "ML86").id,
                            supplier_sku="hnew", cost_idr=9_900))  # fmt: skip
        s.commit()
    with Session(db) as s:
        assert discovered(s) == []
        with pytest.raises(CatalogError, match="already mapped to another product"):
            adopt_sku(s, admin, found.id, _product(db, "TSEL10").id)
    offers = _iak_offers(db)  # as they were: TSEL10 keeps its SKU, ML86 the hand-made mapping
    assert (offers["TSEL10"][0], offers["ML86"][0]) == ("htelkomsel10000", "hnew")
    assert _actions(db, "sku_adopt") == []


def found_supplier(s: Session) -> int:
    return s.exec(select(Supplier.id).where(Supplier.code == "iak")).one()


def test_display_order_and_sale_hours_shape_the_customers_list(db, redis_url, redis_client, run_asgi):
    factories.catalog(db)
    api = build_api(db, redis_url, run_asgi)
    admin = _operator(db, "ada")

    def pulsa() -> list[tuple[str, bool]]:
        body = httpx.get(f"{api.base}/api/v1/catalog").json()
        cats = {c["code"]: c["products"] for c in body["categories"]}
        return [(p["code"], p["available"]) for p in cats["pulsa"]]

    with Session(db) as s:  # a second pulsa product, dearer: by price it comes after TSEL10
        tsel = s.exec(select(Product).where(Product.code == "TSEL10")).one()
        s.add(Product(code="TSEL5", category_id=tsel.category_id, name="Telkomsel 5.000", price_twd=15,
                      target_kind="phone"))  # fmt: skip
        s.add(Product(code="TSEL20", category_id=tsel.category_id, name="Telkomsel 20.000", price_twd=45,
                      target_kind="phone"))  # fmt: skip
        s.commit()
    assert [c for c, _ in pulsa()] == ["TSEL5", "TSEL10", "TSEL20"]  # by price while no order is set

    tsel20 = _product(db, "TSEL20")
    with UnitOfWork(db) as uow:
        for code, order in (("TSEL20", 0), ("TSEL10", 1), ("TSEL5", 2)):
            set_product_display(uow.session, admin, _product(db, code).id, display_order=str(order))
        uow.commit()
    assert [c for c, _ in pulsa()] == ["TSEL20", "TSEL10", "TSEL5"]

    # hours: a window around now keeps it available; one that starts in an hour lists it as not available now
    here = datetime.now(TAIPEI)
    hhmm = lambda d: f"{d:%H:%M}"  # noqa: E731
    with UnitOfWork(db) as uow:
        set_product_display(
            uow.session,
            admin,
            _product(db, "TSEL10").id,
            display_order="1",
            sale_from=hhmm(here - timedelta(hours=1)),
            sale_until=hhmm(here + timedelta(hours=1)),
        )
        set_product_display(
            uow.session,
            admin,
            tsel20.id,
            display_order="0",
            sale_from=hhmm(here + timedelta(hours=1)),
            sale_until=hhmm(here + timedelta(hours=2)),
        )
        uow.commit()  # fmt: skip
    assert pulsa() == [("TSEL20", False), ("TSEL10", True), ("TSEL5", False)]  # TSEL5 has no supplier offer
    assert [d["hours"] for d in _actions(db, "product_display")][-1] == (
        f"{hhmm(here + timedelta(hours=1))}-{hhmm(here + timedelta(hours=2))}"
    )

    # ordering follows the hours too: TSEL10 outside its window is refused at the quote, inside it is priced
    auth = api.sign_in()
    quote = {"items": [{"product_code": "TSEL10", "target": "081234567890"}]}
    assert httpx.post(f"{api.base}/api/v1/quote", json=quote, headers=auth).status_code == 200
    window = (hhmm(here + timedelta(hours=2)), hhmm(here + timedelta(hours=3)))
    with UnitOfWork(db) as uow:
        set_product_display(
            uow.session, admin, _product(db, "TSEL10").id, sale_from=window[0], sale_until=window[1]
        )
        uow.commit()
    r = httpx.post(f"{api.base}/api/v1/quote", json=quote, headers=auth)
    assert r.status_code == 409, r.text
    assert f"sold only {window[0]}-{window[1]} (Taipei time)" in r.text

    # bad input: a clear error and nothing written
    for kw, message in (
        ({"sale_from": "8am", "sale_until": "22:00"}, "not a time of day"),
        ({"sale_from": "08:00"}, "both hours"),
        ({"sale_from": "08:00", "sale_until": "08:00"}, "the same time"),
        ({"display_order": "-1"}, "whole number"),
    ):
        with Session(db) as s, pytest.raises(CatalogError, match=message):
            set_product_display(s, admin, tsel20.id, **kw)
    after = _product(db, "TSEL20")
    assert (after.display_order, after.sale_from is not None) == (0, True)
