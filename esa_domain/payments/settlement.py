"""A payment's outcome derives from its items once the last one finishes; failures enter the refund path.

The rule (states.payment_status_from_items: every item final; all delivered SUCCESS, none FAILED, else PARTIAL)
runs in SQL here, so the statement that finishes the last item can settle its payment too.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.core.states import ITEM_FINAL, PAYMENT, ItemStatus, PaymentStatus
from esa_domain.core.transitions import Applied, TransitionResult, move
from esa_domain.infra import outbox, topics
from esa_domain.invoicing.issuing import open_invoice
from esa_domain.ordering import notify

ACTOR = "system:fulfillment"
P = PaymentStatus
_FINAL = "(" + ", ".join(f"'{s}'" for s in sorted(ITEM_FINAL)) + ")"
_LOCK = text("SELECT 1 FROM payments WHERE id = :payment FOR NO KEY UPDATE")
SETTLED = "(SELECT to_status FROM settled) AS settled"  # how the payment settled, for a SELECT list


def settle_ctes(item: str = "NULL", item_status: str = "NULL") -> str:
    """CTEs (to follow a WITH) that move payment :payment PAID -> SUCCESS | PARTIAL | FAILED with its history
    row once every item is final: `target` (what its items imply, no row while one is open) and `settled` (the
    row moved, if it moved; its `to_status`). Item `item` counts as `item_status` (SQL expressions), for a
    statement that also moves that item. The caller holds the payment's lock, taken by an earlier statement, so
    every sibling's committed status is visible and none can change meanwhile. The rule is
    `states.payment_status_from_items`, here in SQL."""
    settled = move(
        PAYMENT,
        to=f"{P.SUCCESS}|{P.PARTIAL}|{P.FAILED}",
        to_sql="x.status",
        from_=[P.PAID],
        lock=False,
        using="target x",
        where="t.id = :payment",
        returning=", x.n, x.ok",
        cause="ok || ' of ' || n || ' items delivered'",
        actor=f"'{ACTOR}'",
        name="settled",
    )
    return f"""
    siblings AS (
        SELECT count(*) AS n, count(*) FILTER (WHERE x.status = '{ItemStatus.SUCCESS}') AS ok,
            bool_and(x.status IN {_FINAL}) AS final
        FROM (SELECT CASE WHEN i.id = {item} THEN {item_status} ELSE i.status END AS status
              FROM payment_items i WHERE i.payment_id = :payment) x
    ), target AS (
        SELECT CASE WHEN ok = n THEN '{P.SUCCESS}' WHEN ok > 0 THEN '{P.PARTIAL}' ELSE '{P.FAILED}' END AS status,
            n, ok
        FROM siblings WHERE final AND n > 0
    ), {settled}"""  # noqa: S608 (constants only)


_SETTLE = text(
    f"""
    WITH {settle_ctes()}
    SELECT (SELECT status FROM target) AS target, (SELECT count(*) FROM settled) AS settled,
        (SELECT status FROM payments WHERE id = :payment) AS current
    """  # noqa: S608 (constants only)
)


def finish_payment_if_done(
    session: Session, payment_id: int, *, public_url: str = ""
) -> TransitionResult | None:
    """If every item is final, move the payment PAID -> SUCCESS | PARTIAL | FAILED (refund queued for the last two).

    The payment row is locked first, so two items finishing at once in two transactions cannot both miss it.
    """
    return settle_payment(session, payment_id, public_url=public_url)


def settle_payment(session: Session, payment_id: int, *, public_url: str = "") -> TransitionResult | None:
    """`finish_payment_if_done`: lock the payment, then settle it in one statement."""
    conn = session.connection()
    conn.execute(_LOCK, {"payment": payment_id})
    row = conn.execute(_SETTLE, {"payment": payment_id}).one()
    if row.target is None:
        return None
    if not row.settled:
        return TransitionResult(
            Applied.ALREADY if row.current == row.target else Applied.SUPERSEDED, None, row.current
        )
    after_settled(session, payment_id, row.target)
    return TransitionResult(Applied.APPLIED, P.PAID, row.target)


def after_settled(session: Session, payment_id: int, status: str) -> None:
    """What follows a payment's settlement in the same transaction: a refund when not everything was delivered."""
    if status in (P.FAILED, P.PARTIAL):
        outbox.record(session, topics.REFUND_PAYMENT, {"payment_id": payment_id})
    invoiced = False
    if status in (P.SUCCESS, P.PARTIAL):  # the e-invoice of what was delivered (issue 19): one statement
        invoiced = open_invoice(session, payment_id, status) is not None
    # the customer hears it in LINE, after commit; with an e-invoice to issue, once its outcome is known (the
    # invoice's worker releases the message: one message says both, whichever process settled the order)
    notify.queue_settled(session, payment_id, status, held=invoiced)
