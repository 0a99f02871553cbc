"""Which suppliers may fulfil an item, cheapest first.

Effective cost in TWD = (IDR cost + IDR fee) x the stored IDR/TWD rate + TWD fee, computed in the query. Disabled
suppliers, unavailable offers, suppliers already tried for this item, open circuits (the supplier's or the offer's,
esa_domain.fulfillment.breaker) and suppliers whose last known deposit cannot cover the cost are skipped. A
half-open circuit (cool-down over) is a candidate: buying from it takes its one probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.catalog.fx import PAIR
from esa_domain.fulfillment.breaker import LEASE_SQL, BreakerPolicy

__all__ = ["BreakerPolicy", "Candidate", "rank_candidates", "ranked_offers_sql", "take_probe"]


@dataclass(frozen=True)
class Candidate:
    supplier_id: int
    supplier_code: str
    sku: str
    cost_idr: int
    cost_twd: Decimal
    supplier_open_until: datetime | None = None  # set: half-open, buying from it takes the supplier's probe
    offer_open_until: datetime | None = None  # set: half-open, buying from it takes the offer's probe


def ranked_offers_sql(item: str, product: str, fallback_rate: str, margin_floor: str | None = None) -> str:
    """A SELECT of the offers that may still serve the item, cheapest first: (supplier_id, supplier_code, sku,
    cost_idr, cost_twd, product_id, supplier_open_until, offer_open_until). `item`, `product` and
    `fallback_rate` are SQL expressions (bind names or columns); it also binds :pair and :now.

    cost_twd is fx.effective_cost_twd in SQL: round() on numeric rounds half away from zero, which is
    ROUND_HALF_UP for these positive amounts; ties go to the supplier code in byte order, as Python sorts it.
    The rate is the latest stored one, else the order's own (`fallback_rate`). The deposit rule is
    esa_domain.operations.deposits.deposit_can_cover on the newest reading, which deposits.record_balance
    mirrors on the supplier row (`suppliers.balance_idr`; never read: it can): no extra lookup per order.
    `margin_floor` (an SQL expression, NULL: none) leaves out offers costing more than the item's price minus
    it (esa_domain.fulfillment.margin: such an item waits for an operator).
    """
    ceiling = (
        ""
        if margin_floor is None
        else f"""
      AND ({margin_floor} IS NULL OR round((o.cost_idr + s.fee_idr) * r.rate, 4) + s.fee_twd
           <= (SELECT m.price_twd FROM payment_items m WHERE m.id = {item}) - {margin_floor})"""  # noqa: S608
    )
    return f"""
    SELECT s.id AS supplier_id, s.code AS supplier_code, o.supplier_sku AS sku, o.cost_idr,
        round((o.cost_idr + s.fee_idr) * r.rate, 4) + s.fee_twd AS cost_twd, o.product_id,
        s.circuit_open_until AS supplier_open_until, o.circuit_open_until AS offer_open_until
    FROM supplier_offers o
    JOIN suppliers s ON s.id = o.supplier_id
    CROSS JOIN (SELECT COALESCE((SELECT x.rate FROM fx_rates x WHERE x.pair = :pair
                                 ORDER BY x.fetched_at DESC, x.id DESC LIMIT 1), {fallback_rate}) AS rate) r
    WHERE o.product_id = {product} AND o.available AND s.enabled
      AND (s.circuit_open_until IS NULL OR s.circuit_open_until <= :now)
      AND (o.circuit_open_until IS NULL OR o.circuit_open_until <= :now)
      AND s.id NOT IN (SELECT a.supplier_id FROM item_attempts a WHERE a.item_id = {item})
      /* a bill from an inquiry is paid only where it was inquired (esa_domain.ordering.bills) */
      AND NOT EXISTS (SELECT 1 FROM bill_inquiries b WHERE b.payment_item_id = {item} AND b.supplier_id <> s.id)
      AND (s.balance_idr IS NULL OR s.balance_idr >= o.cost_idr){ceiling}
    ORDER BY cost_twd, s.code COLLATE "C"
    """  # noqa: S608 (expressions from this package only)


_CANDIDATES = text(
    ranked_offers_sql(
        ":item", ":product", "CAST(:fallback_rate AS numeric)", "CAST(:margin_floor AS integer)"
    )
)


def rank_candidates(
    session: Session,
    item_id: int,
    product_id: int,
    now: datetime,
    *,
    fallback_rate: Decimal,
    margin_floor: int | None = None,
) -> list[Candidate]:
    """The item's candidates, cheapest first, priced at the latest stored rate (else `fallback_rate`); with a
    `margin_floor`, only those costing at most the item's price minus it."""
    rows = session.connection().execute(
        _CANDIDATES,
        {
            "pair": PAIR,
            "fallback_rate": fallback_rate,
            "product": product_id,
            "now": now,
            "item": item_id,
            "margin_floor": margin_floor,
        },
    )
    return [
        Candidate(
            r.supplier_id,
            r.supplier_code,
            r.sku,
            r.cost_idr,
            r.cost_twd,
            r.supplier_open_until,
            r.offer_open_until,
        )
        for r in rows
    ]


_TAKE_SUPPLIER_PROBE = text(
    f"UPDATE suppliers SET circuit_open_until = {LEASE_SQL}, probe_item_id = :item "  # noqa: S608
    "WHERE id = :supplier AND circuit_open_until IS NOT NULL AND circuit_open_until <= :now RETURNING id"
)
_TAKE_OFFER_PROBE = text(
    f"UPDATE supplier_offers SET circuit_open_until = {LEASE_SQL}, probe_item_id = :item "  # noqa: S608
    "WHERE supplier_id = :supplier AND product_id = :product "
    "AND circuit_open_until IS NOT NULL AND circuit_open_until <= :now RETURNING id"
)


def take_probe(
    session: Session, c: Candidate, item_id: int, product_id: int, now: datetime, policy: BreakerPolicy
) -> bool:
    """Whether the item may buy from `c`: always for a closed circuit; for a half-open one only if this item
    wins its one probe (inside the caller's transaction; another item that took it first wins)."""
    params = {
        "supplier": c.supplier_id,
        "product": product_id,
        "item": item_id,
        "now": now,
        "cooldown": policy.cooldown,
    }
    conn = session.connection()
    if c.supplier_open_until is not None and conn.execute(_TAKE_SUPPLIER_PROBE, params).first() is None:
        return False
    return c.offer_open_until is None or conn.execute(_TAKE_OFFER_PROBE, params).first() is not None
