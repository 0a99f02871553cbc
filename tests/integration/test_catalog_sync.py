"""Catalog sync on real PostgreSQL: a fake adapter at the adapter seam, and the IAK simulator over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from esa_domain.adapters.suppliers.base import CatalogEntry, CatalogResult, SupplierError
from esa_domain.adapters.suppliers.iak.adapter import IakAdapter
from esa_domain.adapters.suppliers.lapakgaming.adapter import LapakGamingAdapter
from esa_domain.catalog.sync import sync_supplier_catalog
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, JobRun, Product, Supplier, SupplierExchange, SupplierOffer
from sandbox import iak as iak_sim
from tests import factories
from tests.servers import free_port

PUBLIC = "https://esa.example"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class FakeCatalog:
    """The adapter seam: answers fetch_catalog with the given entries, or raises."""

    code = "fake"

    def __init__(self, entries: list[CatalogEntry] | None = None, error: Exception | None = None) -> None:
        self.entries, self.error = entries or [], error

    def fetch_catalog(self) -> CatalogResult:
        if self.error:
            raise self.error
        return CatalogResult(list(self.entries))


def _uow(db):
    return lambda: UnitOfWork(db)


def _offers(db, supplier_code: str) -> dict[str, tuple[int, bool]]:
    with Session(db) as s:
        rows = s.exec(select(SupplierOffer).join(Supplier).where(Supplier.code == supplier_code)).all()
        return {o.supplier_sku: (o.cost_idr, o.available) for o in rows}


def _product(db, code: str) -> Product:
    with Session(db) as s:
        return s.exec(select(Product).where(Product.code == code)).one()


def _runs(db) -> list[JobRun]:
    with Session(db) as s:
        return list(s.exec(select(JobRun).order_by(JobRun.id)).all())


def test_sync_updates_costs_marks_missing_offers_unavailable_and_disables_orphan_products(db):
    # Given IAK offers pulsa (also offered by Lapak), PLN (only IAK) and a manually withdrawn product
    factories.catalog(db)
    catalog = FakeCatalog(
        [
            CatalogEntry("htelkomsel10000", "Telkomsel 10.000", 10_300, True),
            CatalogEntry("x", "Withdrawn", 5_000, True),
            CatalogEntry("hnew", "Not sold by us", 1_000, True),
        ]
    )
    # When IAK's catalog no longer lists the PLN token
    summary = sync_supplier_catalog(_uow(db), "iak", catalog, public_url=PUBLIC, now=NOW)
    # Then costs follow the catalog, PLN is unavailable and its product disabled by sync; pulsa stays on
    assert _offers(db, "iak") == {
        "htelkomsel10000": (10_300, True),
        "hpln20000": (20_300, False),
        "x": (5_000, True),
    }
    assert not _product(db, "PLN20").active
    assert _product(db, "PLN20").disabled_reason.startswith("sync:")
    assert _product(db, "TSEL10").active
    assert not _product(db, "OFF1").active  # withdrawn by an operator: sync never re-enables it
    counts = {"updated": 2, "unavailable": 1, "jumps": 0, "disabled": 1, "enabled": 0}
    assert {k: summary[k] for k in counts} == counts and summary["status"] == "ok"
    (run,) = _runs(db)
    assert (run.kind, run.status, run.error) == ("catalog_sync:iak", "ok", None)
    assert {k: run.summary[k] for k in counts} == counts
    assert run.finished_at is not None
    with Session(db) as s:
        assert s.exec(select(Supplier).where(Supplier.code == "iak")).one().last_sync_at == NOW
        assert _offers(db, "lapakgaming") == {"TSEL10-S1": (10_100, True), "ML86-S1": (21_000, True)}


def test_product_disabled_by_sync_is_enabled_again_when_an_offer_returns(db):
    factories.catalog(db)
    sync_supplier_catalog(_uow(db), "iak", FakeCatalog([]), public_url=PUBLIC, now=NOW)
    assert not _product(db, "PLN20").active
    back = FakeCatalog([CatalogEntry("hpln20000", "PLN", 20_300, True)])
    summary = sync_supplier_catalog(_uow(db), "iak", back, public_url=PUBLIC, now=NOW)
    assert (summary["enabled"], summary["disabled"]) == (1, 0)
    pln = _product(db, "PLN20")
    assert pln.active and pln.disabled_reason is None


def test_offer_of_a_disabled_supplier_does_not_keep_a_product_on(db):
    cat = factories.catalog(db)
    with Session(db) as s:
        s.get(Supplier, cat["lapak"].id).enabled = False
        s.commit()
    # IAK drops pulsa; Lapak still lists it but is disabled
    summary = sync_supplier_catalog(_uow(db), "iak", FakeCatalog([]), public_url=PUBLIC, now=NOW)
    assert summary["disabled"] == 2  # pulsa and PLN
    assert not _product(db, "TSEL10").active


def test_cost_jump_above_the_threshold_alerts_once_per_sku_and_day(db):
    factories.catalog(db)
    jumped = FakeCatalog(
        [
            CatalogEntry("htelkomsel10000", "Telkomsel 10.000", 15_000, True),  # +47 %
            CatalogEntry("hpln20000", "PLN 20.000", 22_000, True),  # +8 %: no alert
        ]
    )
    first = sync_supplier_catalog(_uow(db), "iak", jumped, public_url=PUBLIC, now=NOW)
    again = sync_supplier_catalog(_uow(db), "iak", jumped, public_url=PUBLIC, now=NOW)
    assert (first["jumps"], again["jumps"]) == (1, 0)  # the second run sees no change
    with Session(db) as s:
        alerts = s.exec(select(Alert)).all()
    assert [a.dedupe_key for a in alerts] == ["price_jump:iak:htelkomsel10000:2026-03-01"]
    assert "IDR 15,000" in alerts[0].body and "IDR 10,200" in alerts[0].body


def test_adapter_failure_marks_the_run_failed_and_changes_no_offer(db):
    factories.catalog(db)
    before = _offers(db, "iak")
    broken = FakeCatalog(error=SupplierError("IAK price list unreadable: 503"))
    summary = sync_supplier_catalog(_uow(db), "iak", broken, public_url=PUBLIC, now=NOW)
    assert summary["status"] == "failed"
    assert _offers(db, "iak") == before
    (run,) = _runs(db)
    assert (run.status, run.error) == ("failed", "SupplierError: IAK price list unreadable: 503")
    assert _product(db, "PLN20").active


def test_outage_of_one_supplier_leaves_the_other_suppliers_offers_updated(db, run_asgi):
    # Given the IAK simulator up over HTTP and Lapak Gaming unreachable
    factories.catalog(db)
    iak_url = run_asgi(iak_sim.create_app())
    iak = IakAdapter(
        username=iak_sim.DEFAULT_USERNAME,
        api_key=iak_sim.DEFAULT_API_KEY,
        prepaid_url=iak_url,
        postpaid_url=iak_url,
    )
    lapak = LapakGamingAdapter(secret_key="lapak-secret", base_url=f"http://127.0.0.1:{free_port()}")
    lapak_before = _offers(db, "lapakgaming")
    # When both are synced (one message each)
    results = {
        code: sync_supplier_catalog(_uow(db), code, adapter, public_url=PUBLIC, now=NOW)
        for code, adapter in (("lapakgaming", lapak), ("iak", iak))
    }
    # Then IAK's offers carry the simulator's prices; Lapak's are untouched and its run failed
    assert results["lapakgaming"]["status"] == "failed"
    assert "lapak-secret" not in results["lapakgaming"]["error"]
    assert results["iak"]["status"] == "ok"
    assert _offers(db, "iak") == {
        "htelkomsel10000": (10_450, True),
        "hpln20000": (20_350, True),
        "x": (5_000, False),  # not in IAK's list
    }
    assert _offers(db, "lapakgaming") == lapak_before
    assert [(r.kind, r.status) for r in _runs(db)] == [
        ("catalog_sync:lapakgaming", "failed"),
        ("catalog_sync:iak", "ok"),
    ]
    with Session(db) as s:
        exchanges = s.exec(select(SupplierExchange)).all()
    # the prepaid price list, then the postpaid one (pricelist-pasca)
    assert [(e.operation, e.http_status) for e in exchanges] == [("catalog", 200), ("catalog", 200)]
    assert iak_sim.DEFAULT_API_KEY not in str([e.request_json for e in exchanges])
