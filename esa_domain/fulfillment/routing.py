"""Which suppliers may fulfil an item, cheapest first, and the per-supplier circuit breaker.

Effective cost in TWD = (IDR cost + IDR fee) x the stored IDR/TWD rate + TWD fee, computed in the query. Disabled suppliers,
unavailable offers, open circuits and suppliers already tried for this item are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.catalog.fx import PAIR


@dataclass(frozen=True)
class Candidate:
    supplier_id: int
    supplier_code: str
    sku: str
    cost_idr: int
    cost_twd: Decimal


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5  # consecutive non-customer failures that open the circuit
    cooldown: timedelta = timedelta(minutes=5)  # then one probe is let through


def ranked_offers_sql(item: str, product: str, fallback_rate: str) -> str:
    """A SELECT of the offers that may still serve the item, cheapest first: (supplier_id, supplier_code, sku,
    cost_idr, cost_twd). `item`, `product` and `fallback_rate` are SQL expressions (bind names or columns);
    it also binds :pair and :now.

    cost_twd is fx.effective_cost_twd in SQL: round() on numeric rounds half away from zero, which is
    ROUND_HALF_UP for these positive amounts; ties go to the supplier code in byte order, as Python sorts it.
    The rate is the latest stored one, else the order's own (`fallback_rate`).
    """
    return f"""
    SELECT s.id AS supplier_id, s.code AS supplier_code, o.supplier_sku AS sku, o.cost_idr,
        round((o.cost_idr + s.fee_idr) * r.rate, 4) + s.fee_twd AS cost_twd
    FROM supplier_offers o
    JOIN suppliers s ON s.id = o.supplier_id
    CROSS JOIN (SELECT COALESCE((SELECT x.rate FROM fx_rates x WHERE x.pair = :pair
                                 ORDER BY x.fetched_at DESC, x.id DESC LIMIT 1), {fallback_rate}) AS rate) r
    WHERE o.product_id = {product} AND o.available AND s.enabled
      AND (s.circuit_open_until IS NULL OR s.circuit_open_until <= :now)
      AND s.id NOT IN (SELECT a.supplier_id FROM item_attempts a WHERE a.item_id = {item})
    ORDER BY cost_twd, s.code COLLATE "C"
    """  # noqa: S608 (expressions from this package only)


_CANDIDATES = text(ranked_offers_sql(":item", ":product", "CAST(:fallback_rate AS numeric)"))


def rank_candidates(
    session: Session, item_id: int, product_id: int, now: datetime, *, fallback_rate: Decimal
) -> list[Candidate]:
    """The item's candidates, cheapest first, priced at the latest stored rate (else `fallback_rate`)."""
    rows = session.connection().execute(
        _CANDIDATES,
        {"pair": PAIR, "fallback_rate": fallback_rate, "product": product_id, "now": now, "item": item_id},
    )
    return [Candidate(r.supplier_id, r.supplier_code, r.sku, r.cost_idr, r.cost_twd) for r in rows]


def record_supplier_failure(session: Session, supplier_id: int, policy: BreakerPolicy) -> bool:
    """Count a non-customer failure; returns True when this failure opened (or re-opened) the circuit."""
    row = session.execute(
        text(
            """
            UPDATE suppliers SET consecutive_failures = consecutive_failures + 1,
                circuit_open_until = CASE WHEN consecutive_failures + 1 >= :threshold
                                          THEN now() + :cooldown ELSE circuit_open_until END
            WHERE id = :id RETURNING consecutive_failures
            """
        ),
        {"id": supplier_id, "threshold": policy.threshold, "cooldown": policy.cooldown},
    ).first()
    return bool(row and row[0] >= policy.threshold)


def record_supplier_success(session: Session, supplier_id: int) -> None:
    session.execute(
        text(
            "UPDATE suppliers SET consecutive_failures = 0, circuit_open_until = NULL "
            "WHERE id = :id AND (consecutive_failures <> 0 OR circuit_open_until IS NOT NULL)"
        ),
        {"id": supplier_id},
    )
