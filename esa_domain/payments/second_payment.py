"""A second accepted payment for one order goes back by itself.

Paying again after a declined card opens a new hand-off (a new MerchantTradeNo, payment_checkouts); two of them
may both be paid (two tabs, the race of two attempts). The first accepted becomes the order's payment and is
delivered once; the other is a charge of its own at ECPay, refunded whole: a refund row that names that trade
(refunds.merchant_trade_no / trade_no), REQUESTED with its `send_refund` outbox row in the transaction that
recorded the notification, then carried to ECPay like any refund (esa_domain.payments.refunds.send_refund).
A method without a refund API (ATM, CVS, barcode) becomes an operator's task (MANUAL) with an alert.

Kept apart from refunds.py, which imports accept.py (EcpayConfig): accept.py calls this module.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.core.states import REFUND, RefundStatus
from esa_domain.core.transitions import born, move
from esa_domain.infra import outbox, topics
from esa_domain.operations.alerts import raise_alert

ACTOR = "system:refunds"
PURPOSE = "second_pay"
CONDITION = "refund_manual"  # the condition refunds made by hand are raised under (refunds.REFUND_MANUAL)

# one refund per trade (uq_refund_trade): a notification sent again finds it and writes nothing
_REQUEST = text(
    f"""
WITH ins AS (
    INSERT INTO refunds (payment_id, sequence, purpose, method, amount_twd, status, reason, requested_by,
        merchant_trade_no, trade_no, sends, created_at, updated_at)
    SELECT :payment, coalesce((SELECT max(sequence) FROM refunds WHERE payment_id = :payment), 0) + 1,
        '{PURPOSE}', :method, :amount, '{RefundStatus.REQUESTED}', :reason, '{ACTOR}', :mtn, :tn, 0, now(), now()
    ON CONFLICT DO NOTHING
    RETURNING id, payment_id
), {born(REFUND, rows="ins", name="born_h", cause=":cause", actor=f"'{ACTOR}'")}
SELECT id FROM ins
"""  # noqa: S608 (constants only)
)
_MANUAL_CTES = move(
    REFUND,
    to=str(RefundStatus.MANUAL),
    from_=(str(RefundStatus.REQUESTED),),
    where="t.id = :refund",
    cause=":cause",
    actor=f"'{ACTOR}'",
)
_MANUAL = text(f"WITH {_MANUAL_CTES} SELECT from_status FROM moved")  # noqa: S608 (from the lifecycle table)


def refund_second_payment(
    session: Session,
    payment_id: int,
    *,
    merchant_trade_no: str,
    trade_no: str,
    amount_twd: int,
    payment_type: str,
    paid_through: str,
    public_url: str,
) -> int | None:
    """Write the whole refund of another paid hand-off of `payment_id` in the caller's transaction; its id, or
    None when that trade has its refund already (a notification sent again, the query path)."""
    card = payment_type.startswith("Credit") and bool(trade_no)
    reason = f"a second payment of this order ({merchant_trade_no}); it was paid through {paid_through}"
    refund_id = session.execute(
        _REQUEST,
        {
            "payment": payment_id,
            "method": "ecpay" if card else "manual",
            "amount": amount_twd,
            "reason": reason[:300],
            "mtn": merchant_trade_no,
            "tn": trade_no or None,
            "cause": f"refund of NT${amount_twd} requested: {reason}"[:300],
        },
    ).scalar_one_or_none()
    if refund_id is None:
        return None
    if card:
        outbox.record(session, topics.SEND_REFUND, {"refund_id": refund_id})
        return int(refund_id)
    why = f"Paid by {payment_type or 'an unknown method'}, which has no refund API"
    session.execute(_MANUAL, {"refund": refund_id, "cause": f"{why}: an operator refunds it by hand"})
    raise_alert(
        session,
        condition=CONDITION,
        payment_id=payment_id,
        public_url=public_url,
        title=f"Order {payment_id} was paid twice: refund NT${amount_twd} by hand",
        body=f"ECPay reports {merchant_trade_no} (TradeNo {trade_no}) paid NT${amount_twd}, but the order was "
        f"already paid through {paid_through}; it is delivered once. {why}: refund the second payment to the "
        "customer by hand, then mark the refund done with its transfer reference.",
        dedupe_key=f"{CONDITION}:refund:{refund_id}",
    )
    return int(refund_id)
