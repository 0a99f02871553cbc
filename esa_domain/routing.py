"""Which suppliers may fulfil an item, cheapest first, and the per-supplier circuit breaker.

Effective cost in TWD = (IDR cost + IDR fee) x the stored IDR/TWD rate + TWD fee. Disabled suppliers,
unavailable offers, open circuits and suppliers already tried for this item are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.fx import PAIR, effective_cost_twd


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


# the offers that may still serve the item, with today's rate (the order's own rate if none is stored)
_CANDIDATES = text(
    """
    SELECT s.id, s.code, o.supplier_sku, o.cost_idr, s.fee_idr, s.fee_twd,
        COALESCE((SELECT r.rate FROM fx_rates r WHERE r.pair = :pair
                  ORDER BY r.fetched_at DESC, r.id DESC LIMIT 1), :fallback_rate) AS rate
    FROM supplier_offers o JOIN suppliers s ON s.id = o.supplier_id
    WHERE o.product_id = :product AND o.available AND s.enabled
      AND (s.circuit_open_until IS NULL OR s.circuit_open_until <= :now)
      AND s.id NOT IN (SELECT a.supplier_id FROM item_attempts a WHERE a.item_id = :item)
    """
)


def rank_candidates(
    session: Session, item_id: int, product_id: int, now: datetime, *, fallback_rate: Decimal
) -> list[Candidate]:
    """The item's candidates, cheapest first, priced at the latest stored rate (else `fallback_rate`)."""
    rows = session.connection().execute(
        _CANDIDATES,
        {"pair": PAIR, "fallback_rate": fallback_rate, "product": product_id, "now": now, "item": item_id},
    )
    ranked = [
        Candidate(
            r.id,
            r.code,
            r.supplier_sku,
            r.cost_idr,
            effective_cost_twd(r.cost_idr, Decimal(r.rate), fee_idr=r.fee_idr, fee_twd=r.fee_twd),
        )
        for r in rows
    ]
    return sorted(ranked, key=lambda c: (c.cost_twd, c.supplier_code))


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
