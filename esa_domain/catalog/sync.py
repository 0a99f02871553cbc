"""Refreshing one supplier's offers from its catalog, then enabling or disabling the products that need them.

One supplier per call (and per message), so one supplier's outage never holds up the others. The catalog is
fetched outside any transaction; everything it changes is then written in one transaction, or nothing is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from esa_domain.adapters.suppliers.base import CatalogEntry, CatalogResult, SupplierAdapter
from esa_domain.catalog.discovered import record_discovered
from esa_domain.core.transitions import NotFound
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import JobRun, Product, Supplier, SupplierExchange, SupplierOffer
from esa_domain.operations.alerts import raise_alert

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
SYNC_REASON = "sync: no available offer from an enabled supplier"  # "sync:" marks what sync may re-enable


def _start_run(uow_factory: UowFactory, supplier_code: str, now: datetime) -> tuple[int, int]:
    with uow_factory() as uow:
        supplier = uow.session.exec(select(Supplier).where(Supplier.code == supplier_code)).first()
        if supplier is None:
            raise NotFound(f"supplier '{supplier_code}' does not exist")
        run = JobRun(kind=f"catalog_sync:{supplier_code}"[:40], started_at=now, status="running")
        uow.session.add(run)
        uow.commit()
        return supplier.id, run.id  # type: ignore[return-value]


def _fail_run(uow_factory: UowFactory, run_id: int, error: str) -> None:
    with uow_factory() as uow:
        run = uow.session.get(JobRun, run_id)
        assert run is not None
        run.status, run.error, run.finished_at = "failed", error[:500], datetime.now(UTC)
        uow.commit()


def _is_jump(old: int, new: int, threshold: Decimal) -> bool:
    return old > 0 and Decimal(abs(new - old)) > threshold * old


def _apply_offers(
    session: Session,
    supplier_code: str,
    supplier_id: int,
    entries: dict[str, CatalogEntry],
    *,
    now: datetime,
    public_url: str,
    threshold: Decimal,
    untouched: frozenset[int] = frozenset(),
) -> dict[str, int]:
    counts = {"matched": 0, "updated": 0, "unavailable": 0, "jumps": 0}
    offers = session.exec(
        select(SupplierOffer)
        .where(SupplierOffer.supplier_id == supplier_id)
        .order_by(col(SupplierOffer.id))
        .with_for_update(key_share=True)
    ).all()
    for offer in offers:
        if offer.product_id in untouched:  # its price list could not be read this time: left as it was
            continue
        entry = entries.get(offer.supplier_sku)
        # a priceless entry cannot be sold (costs must be positive): treat it as unavailable
        available = entry is not None and entry.available and entry.cost_idr > 0
        if entry is not None:
            counts["matched"] += 1
        if entry is not None and entry.cost_idr > 0 and entry.cost_idr != offer.cost_idr:
            if _is_jump(offer.cost_idr, entry.cost_idr, threshold):
                counts["jumps"] += 1
                raise_alert(
                    session,
                    condition="catalog_price_jump",
                    dedupe_key=f"price_jump:{supplier_code}:{offer.supplier_sku}:{now.date().isoformat()}",
                    public_url=public_url,
                    title=f"{supplier_code}: cost of {offer.supplier_sku} jumped",
                    body=f"{supplier_code} now charges IDR {entry.cost_idr:,} for {offer.supplier_sku} "
                    f"(was IDR {offer.cost_idr:,}, over {threshold:%} change). Routing uses the new cost; "
                    "check the product's price and margin.",
                )
            offer.cost_idr = entry.cost_idr
            counts["updated"] += 1
        elif offer.available != available:
            counts["updated"] += 1
        if offer.available and not available:
            counts["unavailable"] += 1
        offer.available = available
        offer.synced_at = now
        session.add(offer)
    # kept for an operator to adopt onto a product (Shop set-up), not dropped
    counts["unknown_skus"] = record_discovered(
        session, supplier_id, entries, {o.supplier_sku for o in offers}, now
    )
    return counts


def _reevaluate_products(session: Session, supplier_id: int, now: datetime) -> dict[str, int]:
    """Disable products with no available offer from an enabled supplier; re-enable those sync disabled."""
    product_ids = select(SupplierOffer.product_id).where(SupplierOffer.supplier_id == supplier_id)
    # locked in id order: two suppliers' syncs judging one product take turns, so neither misses the other
    products = session.exec(
        select(Product)
        .where(col(Product.id).in_(product_ids))
        .order_by(col(Product.id))
        .with_for_update(key_share=True)
    ).all()
    offered = set(
        session.exec(
            select(SupplierOffer.product_id)
            .join(Supplier, col(Supplier.id) == col(SupplierOffer.supplier_id))
            .where(col(SupplierOffer.available), col(Supplier.enabled))
        ).all()
    )
    counts = {"disabled": 0, "enabled": 0}
    for product in products:
        if product.active and product.id not in offered:
            product.active, product.disabled_reason, product.updated_at = False, SYNC_REASON, now
            counts["disabled"] += 1
        elif (
            not product.active
            and product.id in offered
            and (product.disabled_reason or "").startswith("sync:")
        ):
            product.active, product.disabled_reason, product.updated_at = True, None, now
            counts["enabled"] += 1
        session.add(product)
    return counts


def _store_exchanges(session: Session, supplier_id: int, result: CatalogResult) -> None:
    for ex in result.exchanges:  # already redacted by the adapter
        session.add(
            SupplierExchange(
                supplier_id=supplier_id,
                operation=ex.operation[:20],
                method=ex.method[:8],
                url=ex.url[:500],
                request_json=ex.request,
                response_json=ex.response,
                http_status=ex.http_status,
                latency_ms=ex.latency_ms,
                error=ex.error[:300] if ex.error else None,
            )
        )


def _with_postpaid(
    adapter: Any, result: CatalogResult, supplier_code: str
) -> tuple[CatalogResult, str | None]:
    """A supplier with a separate postpaid price list (IAK's `pricelist-pasca`) adds its bills to the catalog. If
    that list cannot be read, the prepaid one still applies and the bills' offers stay as they were."""
    fetch = getattr(adapter, "fetch_postpaid_catalog", None)
    if fetch is None:
        return result, None
    try:
        bills = fetch()
    except Exception as exc:  # its outage must not hold up the prepaid list
        error = f"postpaid price list: {type(exc).__name__}: {exc}"
        log.warning("catalog sync of %s: %s", supplier_code, error)
        return result, error
    return CatalogResult([*result.entries, *bills.entries], [*result.exchanges, *bills.exchanges]), None


def _postpaid_products(session: Session, supplier_id: int) -> frozenset[int]:
    rows = session.execute(
        text(
            "SELECT o.product_id FROM supplier_offers o JOIN products p ON p.id = o.product_id "
            "JOIN product_categories k ON k.id = p.category_id WHERE o.supplier_id = :s AND k.kind = 'postpaid'"
        ),
        {"s": supplier_id},
    ).scalars()
    return frozenset(rows)


def sync_supplier_catalog(
    uow_factory: UowFactory,
    supplier_code: str,
    adapter: SupplierAdapter,
    *,
    public_url: str,
    now: datetime | None = None,
    jump_threshold: Decimal = Decimal("0.2"),
) -> dict[str, Any]:
    """Refresh one supplier's offers from `adapter.fetch_catalog()`; returns the run's summary.

    `supplier_code`: the suppliers.code row to update. `public_url`: ours, for alert links.
    `jump_threshold`: a relative cost change above it (0.2 = 20 %) raises an alert, once per supplier+SKU+day.
    Offers are matched by supplier_sku; those missing from the catalog become unavailable. If the adapter
    raises, the run is recorded failed and none of the supplier's offers change. Raises NotFound for an
    unknown supplier. The summary has status, run_id and the counts (or error).
    """
    now = now or datetime.now(UTC)
    supplier_id, run_id = _start_run(uow_factory, supplier_code, now)
    try:
        result = adapter.fetch_catalog()
    except Exception as exc:  # any adapter failure: record it, touch nothing
        error = f"{type(exc).__name__}: {exc}"
        log.warning("catalog sync of %s failed: %s", supplier_code, error)
        _fail_run(uow_factory, run_id, error)
        return {"status": "failed", "run_id": run_id, "error": error[:500]}
    result, postpaid_error = _with_postpaid(adapter, result, supplier_code)
    entries = {e.sku: e for e in result.entries}
    with uow_factory() as uow:
        s = uow.session
        untouched = _postpaid_products(s, supplier_id) if postpaid_error else frozenset()
        counts: dict[str, Any] = _apply_offers(
            s,
            supplier_code,
            supplier_id,
            entries,
            now=now,
            public_url=public_url,
            threshold=jump_threshold,
            untouched=untouched,
        )
        if postpaid_error:
            counts["postpaid_error"] = postpaid_error[:300]
        s.flush()
        counts |= _reevaluate_products(s, supplier_id, now)
        supplier = s.get(Supplier, supplier_id)
        assert supplier is not None
        supplier.last_sync_at = now
        _store_exchanges(s, supplier_id, result)
        counts["catalog_entries"] = len(entries)
        run = s.get(JobRun, run_id)
        assert run is not None
        run.status, run.summary, run.finished_at = "ok", counts, datetime.now(UTC)
        uow.commit()
    return {"status": "ok", "run_id": run_id, **counts}
