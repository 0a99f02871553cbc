"""What reconciliation would alert on, for the Stuck payments page and the overview's count.

Every query starts from a partial index of rows that can still move (ix_payments_open, ix_items_open) or, for
items waiting on an operator, ix_items_needs_review (requested; see the report), so the scan stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.models import Payment, PaymentItem
from esa_domain.views.routes import order_url

NOT_MOVING = timedelta(minutes=10)  # the reconciler re-dispatches PAID items idle this long


@dataclass(frozen=True)
class StuckRow:
    payment_id: int
    merchant_trade_no: str
    item_id: int | None
    condition: str  # pending_expired | paid_not_moving | supplier_pending_overdue | needs_review
    reason: str
    since: datetime  # when the condition started (the deadline passed, the last move)
    age_minutes: int
    link: str


def stuck_payments(session: Session, *, now: datetime, limit: int = 200) -> list[StuckRow]:
    """Every stuck payment or item, oldest first."""
    rows: list[StuckRow] = []

    def add(pid: int, mtn: str, item_id: int | None, cond: str, reason: str, since: datetime) -> None:
        age = max(0, int((now - since).total_seconds() // 60))
        rows.append(StuckRow(pid, mtn, item_id, cond, reason, since, age, order_url(pid)))

    for pid, mtn, expires_at in session.execute(
        select(Payment.id, Payment.merchant_trade_no, Payment.expires_at)
        .where(col(Payment.status) == PaymentStatus.PENDING, col(Payment.expires_at) < now)
        .limit(limit)
    ).all():
        add(
            pid,
            mtn,
            None,
            "pending_expired",
            "PENDING past its payment window; ECPay not asked yet",
            expires_at,
        )

    moved = func.coalesce(PaymentItem.updated_at, Payment.paid_at, PaymentItem.created_at)
    for pid, mtn, item_id, status, last in session.execute(
        select(Payment.id, Payment.merchant_trade_no, PaymentItem.id, PaymentItem.status, moved)
        .join(Payment, col(Payment.id) == col(PaymentItem.payment_id))
        .where(
            col(PaymentItem.status).in_([ItemStatus.PENDING, ItemStatus.PROCESSING]),
            col(Payment.status) == PaymentStatus.PAID,
            moved < now - NOT_MOVING,
        )
        .limit(limit)
    ).all():
        add(pid, mtn, item_id, "paid_not_moving", f"PAID, item {status} without progress for > 10 min", last)

    for pid, mtn, item_id, deadline in session.execute(
        select(Payment.id, Payment.merchant_trade_no, PaymentItem.id, PaymentItem.deadline_at)
        .join(Payment, col(Payment.id) == col(PaymentItem.payment_id))
        .where(col(PaymentItem.status) == ItemStatus.SUPPLIER_PENDING, col(PaymentItem.deadline_at) < now)
        .limit(limit)
    ).all():
        add(
            pid,
            mtn,
            item_id,
            "supplier_pending_overdue",
            "supplier answer still unknown past its deadline",
            deadline,
        )

    for pid, mtn, item_id, since in session.execute(
        select(
            Payment.id,
            Payment.merchant_trade_no,
            PaymentItem.id,
            func.coalesce(PaymentItem.updated_at, PaymentItem.created_at),
        )
        .join(Payment, col(Payment.id) == col(PaymentItem.payment_id))
        .where(col(PaymentItem.status) == ItemStatus.NEEDS_REVIEW)
        .limit(limit)
    ).all():
        add(pid, mtn, item_id, "needs_review", "item outcome unknown: an operator must resolve it", since)

    for pid, mtn, since in session.execute(
        select(Payment.id, Payment.merchant_trade_no, func.coalesce(Payment.updated_at, Payment.created_at))
        .where(col(Payment.status) == PaymentStatus.NEEDS_REVIEW)
        .limit(limit)
    ).all():
        add(pid, mtn, None, "needs_review", "refund could not be made automatically: refund by hand", since)

    rows.sort(key=lambda r: r.since)
    return rows[:limit]
