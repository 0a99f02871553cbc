"""Which suppliers may fulfil an item, cheapest first, and the per-supplier circuit breaker.

Effective cost in TWD = (IDR cost + IDR fee) x the stored IDR/TWD rate + TWD fee. Disabled suppliers,
unavailable offers, open circuits and suppliers already tried for this item are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, text
from sqlmodel import Session, col, select

from esa_domain.fx import effective_cost_twd
from esa_domain.models import ItemAttempt, Supplier, SupplierOffer


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


def rank_candidates(
    session: Session, item_id: int, product_id: int, rate: Decimal, now: datetime
) -> list[Candidate]:
    tried = select(ItemAttempt.supplier_id).where(ItemAttempt.item_id == item_id)
    rows = session.exec(
        select(SupplierOffer, Supplier)
        .join(Supplier, col(Supplier.id) == col(SupplierOffer.supplier_id))
        .where(
            SupplierOffer.product_id == product_id,
            col(SupplierOffer.available),
            col(Supplier.enabled),
            or_(col(Supplier.circuit_open_until).is_(None), col(Supplier.circuit_open_until) <= now),
            col(Supplier.id).not_in(tried),
        )
    ).all()
    ranked = [
        Candidate(
            supplier.id,  # type: ignore[arg-type]
            supplier.code,
            offer.supplier_sku,
            offer.cost_idr,
            effective_cost_twd(offer.cost_idr, rate, fee_idr=supplier.fee_idr, fee_twd=supplier.fee_twd),
        )
        for offer, supplier in rows
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
