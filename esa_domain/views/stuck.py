"""The Stuck payments page and the overview's count: the rows of the stuck table past their thresholds.

The conditions, their queries and thresholds are esa_domain.operations.stuck's, the same the reconciler alerts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.operations.stuck import STUCK
from esa_domain.views.routes import order_url


@dataclass(frozen=True)
class StuckRow:
    payment_id: int
    merchant_trade_no: str
    item_id: int | None
    condition: str  # a name from esa_domain.operations.stuck.STUCK (the alert's condition too)
    reason: str
    since: datetime  # when the condition's clock started (the window closed, the payment, the last move)
    age_minutes: int
    link: str
    threshold: timedelta  # stuck once `since` is this old
    healed_by: str


def stuck_payments(
    session: Session, *, now: datetime, policy: ReconcilePolicy, limit: int = 200
) -> list[StuckRow]:
    """Every stuck payment or item, oldest first; `policy` is the runtime's (its thresholds are Settings')."""
    rows = [
        StuckRow(
            f.payment_id,
            f.merchant_trade_no,
            f.item_id,
            c.name,
            c.reason_for(f, now),
            f.since,
            max(0, int((now - f.since).total_seconds() // 60)),
            order_url(f.payment_id),
            c.threshold(policy),
            c.healed_by,
        )
        for c in STUCK
        for f in c.stuck(session, policy, now, limit)
    ]
    rows.sort(key=lambda r: r.since)
    return rows[:limit]
