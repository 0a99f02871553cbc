"""A promo use is given back when its order never took money or gave it all back (issue 18): the order EXPIRED
unpaid, or its refunds reached the whole amount paid. The use row goes and the promo's used_count drops, in the
transaction that moves the order (esa_domain.payments.accept, esa_domain.payments.refunds), so the total limit
and the customer's own use are free again. Depends on nothing but SQL: the payment modules import it."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

_RELEASE = text(
    """
    WITH gone AS (
        DELETE FROM promo_usages u
        USING payments p
        WHERE u.payment_id = p.id AND p.id = :payment
          AND (p.status = 'EXPIRED' OR (p.refunded_twd > 0
               AND p.refunded_twd >= COALESCE(p.paid_amount_twd, p.amount_twd)))
        RETURNING u.promo_id
    )
    UPDATE promos SET used_count = used_count - (SELECT count(*) FROM gone g WHERE g.promo_id = promos.id)
    WHERE id IN (SELECT promo_id FROM gone)
    RETURNING id
    """
)


def release_promo_use(session: Session, payment_id: int) -> int:
    """Give back the payment's promo use if it expired or is refunded in full; how many uses were released."""
    return len(session.connection().execute(_RELEASE, {"payment": payment_id}).all())
