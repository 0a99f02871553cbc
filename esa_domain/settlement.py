"""A payment's outcome derives from its items once the last one finishes; failures enter the refund path."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, select

from esa_domain import outbox, topics
from esa_domain.models import PaymentItem
from esa_domain.states import ItemStatus, PaymentStatus, payment_status_from_items
from esa_domain.transitions import TransitionResult, transition_payment


def finish_payment_if_done(
    session: Session, payment_id: int, *, public_url: str = ""
) -> TransitionResult | None:
    """If every item is final, move the payment PAID -> SUCCESS | PARTIAL | FAILED (refund queued for the last two).

    The payment row is locked first, so two items finishing at once in two transactions cannot both miss it.
    """
    session.execute(text("SELECT 1 FROM payments WHERE id = :id FOR NO KEY UPDATE"), {"id": payment_id})
    statuses = [
        ItemStatus(s)
        for s in session.exec(select(PaymentItem.status).where(PaymentItem.payment_id == payment_id)).all()
    ]
    target = payment_status_from_items(statuses)
    if target is None:
        return None
    delivered = sum(s is ItemStatus.SUCCESS for s in statuses)
    result = transition_payment(
        session,
        payment_id,
        target,
        from_={PaymentStatus.PAID},
        actor="system:fulfillment",
        cause=f"{delivered} of {len(statuses)} items delivered",
    )
    if result.applied and target in (PaymentStatus.FAILED, PaymentStatus.PARTIAL):
        outbox.record(session, topics.REFUND_PAYMENT, {"payment_id": payment_id})
    return result
