"""A payment's outcome derives from its items once the last one finishes; failures enter the refund path."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from esa_domain import outbox, topics
from esa_domain.states import (
    PAYMENT_TRANSITIONS,
    ItemStatus,
    PaymentStatus,
    payment_status_from_items,
    sources_of,
)
from esa_domain.transitions import Applied, TransitionResult

ACTOR = "system:fulfillment"
_LOCK = text("SELECT 1 FROM payments WHERE id = :payment FOR NO KEY UPDATE")
_STATUSES = text("SELECT status FROM payment_items WHERE payment_id = :payment")
_CURRENT = text("SELECT status FROM payments WHERE id = :payment")
assert all(
    PaymentStatus.PAID in sources_of(PAYMENT_TRANSITIONS, to)
    for to in PaymentStatus
    if to in (PaymentStatus.SUCCESS, PaymentStatus.PARTIAL, PaymentStatus.FAILED)
)
# compare-and-set PAID -> :to with its history row, in one statement (the caller holds the payment's lock)
_FINISH = text(
    """
    WITH moved AS (
        UPDATE payments SET status = :to, updated_at = now() WHERE id = :payment AND status = 'PAID'
        RETURNING id
    ), history AS (
        INSERT INTO payment_history (payment_id, item_id, from_status, to_status, cause, actor, created_at)
        SELECT id, NULL, 'PAID', :to, :cause, :actor, clock_timestamp() FROM moved
    )
    SELECT count(*) FROM moved
    """
)


def finish_payment_if_done(
    session: Session, payment_id: int, *, public_url: str = ""
) -> TransitionResult | None:
    """If every item is final, move the payment PAID -> SUCCESS | PARTIAL | FAILED (refund queued for the last two).

    The payment row is locked first, so two items finishing at once in two transactions cannot both miss it.
    """
    return settle_payment(session, payment_id, None, public_url=public_url)


def settle_payment(
    session: Session, payment_id: int, statuses: list[str] | None, *, public_url: str = ""
) -> TransitionResult | None:
    """`finish_payment_if_done`; `statuses` are the items' statuses when the caller already read them while
    holding the payment's lock (then no lock is taken here)."""
    conn = session.connection()
    if statuses is None:
        conn.execute(_LOCK, {"payment": payment_id})
        statuses = list(conn.execute(_STATUSES, {"payment": payment_id}).scalars())
    items = [ItemStatus(s) for s in statuses]
    target = payment_status_from_items(items)
    if target is None:
        return None
    delivered = sum(s is ItemStatus.SUCCESS for s in items)
    moved = conn.execute(
        _FINISH,
        {
            "payment": payment_id,
            "to": str(target),
            "cause": f"{delivered} of {len(items)} items delivered",
            "actor": ACTOR,
        },
    ).scalar_one()
    if not moved:
        current = conn.execute(_CURRENT, {"payment": payment_id}).scalar_one()
        return TransitionResult(Applied.ALREADY if current == target else Applied.SUPERSEDED, None, current)
    if target in (PaymentStatus.FAILED, PaymentStatus.PARTIAL):
        outbox.record(session, topics.REFUND_PAYMENT, {"payment_id": payment_id})
    return TransitionResult(Applied.APPLIED, PaymentStatus.PAID, str(target))
