"""SKUs a supplier's catalog sync found that no offer of ours maps yet (issue 18): kept, not dropped, so an
operator can adopt one onto a product from the Shop set-up page (esa_admin/pages/setup.py).

The sync upserts them in its own transaction (esa_domain.catalog.sync); adopting one maps it through
esa_domain.catalog.admin.map_sku (same checks, its audit row) and records which offer it became."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from esa_domain.adapters.suppliers.base import CatalogEntry
from esa_domain.catalog.admin import CatalogError, map_sku
from esa_domain.models import Operator, Product, Supplier, SupplierOffer
from esa_domain.models.business import DiscoveredSku
from esa_domain.operations.operators import record_action

_UPSERT = text(
    """
    INSERT INTO discovered_skus (supplier_id, supplier_sku, name, category, cost_idr, available, first_seen_at,
        last_seen_at)
    SELECT :supplier, e.sku, left(e.name, 200), left(e.category, 80), e.cost_idr, e.available, :now, :now
    FROM jsonb_to_recordset(CAST(:entries AS jsonb)) AS e(sku text, name text, category text, cost_idr bigint,
        available boolean)
    ON CONFLICT (supplier_id, supplier_sku) DO UPDATE SET name = excluded.name, category = excluded.category,
        cost_idr = excluded.cost_idr, available = excluded.available, last_seen_at = excluded.last_seen_at
    """
)


def record_discovered(
    session: Session, supplier_id: int, entries: Mapping[str, CatalogEntry], known: set[str], now: datetime
) -> int:
    """Keep (or refresh) every catalog entry whose SKU no offer of this supplier maps; how many there are."""
    new = [
        {"sku": e.sku[:60], "name": e.name or "", "category": e.category, "cost_idr": max(e.cost_idr, 0),
         "available": e.available}
        for sku, e in sorted(entries.items())
        if sku not in known
    ]  # fmt: skip
    if new:
        session.connection().execute(
            _UPSERT, {"supplier": supplier_id, "entries": json.dumps(new), "now": now}
        )
    return len(new)


@dataclass(frozen=True)
class DiscoveredRow:
    id: int
    supplier: str
    sku: str
    name: str
    category: str | None
    cost_idr: int
    available: bool
    first_seen_at: datetime
    last_seen_at: datetime | None


def discovered(session: Session, limit: int = 500) -> list[DiscoveredRow]:
    """The SKUs waiting to be adopted (not adopted, not mapped by hand since), by supplier then SKU."""
    mapped = (
        select(SupplierOffer.id)
        .where(
            col(SupplierOffer.supplier_id) == col(DiscoveredSku.supplier_id),
            col(SupplierOffer.supplier_sku) == col(DiscoveredSku.supplier_sku),
        )
        .exists()
    )
    rows = session.execute(
        select(DiscoveredSku, Supplier.code)
        .join(Supplier, col(Supplier.id) == col(DiscoveredSku.supplier_id))
        .where(col(DiscoveredSku.adopted_at).is_(None), ~mapped)
        .order_by(Supplier.code, DiscoveredSku.supplier_sku)
        .limit(limit)
    ).all()
    return [
        DiscoveredRow(d.id, code, d.supplier_sku, d.name, d.category, d.cost_idr, d.available, d.first_seen_at,
                      d.last_seen_at)
        for d, code in rows
    ]  # fmt: skip


def adopt_sku(session: Session, actor: Operator, discovered_id: int, product_id: int) -> SupplierOffer:
    """Map a discovered SKU onto a product at the cost the supplier's catalog gave (admin only, audited)."""
    found = session.get(DiscoveredSku, discovered_id, with_for_update=True)
    if found is None:
        raise CatalogError(f"there is no discovered SKU #{discovered_id}; reload the page")
    if found.adopted_at is not None:
        raise CatalogError(f"SKU '{found.supplier_sku}' was already adopted; reload the page")
    if found.cost_idr <= 0:
        raise CatalogError(
            f"the supplier's catalog gives no price for '{found.supplier_sku}': map it by hand with its cost"
        )
    product = session.get(Product, product_id)
    if product is None:
        raise CatalogError("pick the product this SKU delivers")
    offer = map_sku(
        session, actor, product_id=product_id, supplier_id=found.supplier_id, sku=found.supplier_sku,
        cost_idr=found.cost_idr,
    )  # fmt: skip
    offer.available = found.available
    session.add(offer)
    found.adopted_offer_id, found.adopted_at = offer.id, datetime.now(UTC)
    session.add(found)
    session.flush()
    record_action(
        session, actor.id, "sku_adopt", subject=f"product:{product_id}",
        detail={"discovered_id": discovered_id, "supplier_id": found.supplier_id, "sku": found.supplier_sku,
                "product": product.code, "cost_idr": found.cost_idr},
    )  # fmt: skip
    return offer
