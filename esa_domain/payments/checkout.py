"""Handing an order to ECPay, as often as the customer needs: every hand-off has its own MerchantTradeNo.

ECPay refuses a MerchantTradeNo it has seen ("MerchantTradeNo is duplicate", RtnCode 10200047), so paying again
after a declined card or an abandoned page needs a new one. The order keeps its payment row (one amount, one
lifecycle); `payment_checkouts` records each hand-off and what ECPay said about it. The payment's own
`merchant_trade_no` is always the latest hand-off (the one the common notification path matches in one
statement); an older one that gets paid after all is found through `payment_checkouts`. At most one is ever
accepted: the payment's compare-and-set PENDING -> PAID decides (esa_domain.payments.accept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.core.states import PaymentStatus
from esa_domain.ordering.orders import new_merchant_trade_no

# the payment a trade number belongs to: the latest hand-off (payments) or an earlier one (payment_checkouts)
PAYMENT_OF_TRADE_NO = """
    SELECT p.id FROM payments p WHERE p.merchant_trade_no = :trade_no
    UNION ALL
    SELECT c.payment_id FROM payment_checkouts c WHERE c.merchant_trade_no = :trade_no
    LIMIT 1
"""


@dataclass(frozen=True)
class HandOff:
    payment_id: int
    merchant_trade_no: str | None  # None: the order cannot be paid now (see `status`)
    status: str
    amount_twd: int
    customer_id: int
    fresh: bool = False  # a new trade number was minted for this hand-off


def payment_of_trade_no(session: Session, trade_no: str) -> int | None:
    return session.execute(text(PAYMENT_OF_TRADE_NO), {"trade_no": trade_no}).scalar_one_or_none()


def hand_off(session: Session, reference: str, *, now: datetime | None = None) -> HandOff | None:
    """The MerchantTradeNo to send ECPay now for the order known by `reference` (any of its trade numbers).

    The first hand-off uses the number the order was placed with; every later one mints a new number (ECPay
    refuses a duplicate) and makes it the payment's current one. Each is recorded. None: no such order.
    The caller commits."""
    now = now or datetime.now(UTC)
    payment_id = payment_of_trade_no(session, reference)
    if payment_id is None:
        return None
    row = session.execute(
        text(
            "SELECT id, merchant_trade_no, status, expires_at, amount_twd, customer_id FROM payments "
            "WHERE id = :id FOR NO KEY UPDATE"
        ),
        {"id": payment_id},
    ).one()
    if row.status != PaymentStatus.PENDING or row.expires_at <= now:
        return HandOff(row.id, None, row.status, row.amount_twd, row.customer_id)
    used = session.execute(
        text("SELECT 1 FROM payment_checkouts WHERE merchant_trade_no = :t"), {"t": row.merchant_trade_no}
    ).first()
    trade_no, fresh = row.merchant_trade_no, False
    if used:
        trade_no, fresh = new_merchant_trade_no(now), True
        session.execute(
            text("UPDATE payments SET merchant_trade_no = :t WHERE id = :id"), {"t": trade_no, "id": row.id}
        )
    session.execute(
        text("INSERT INTO payment_checkouts (payment_id, merchant_trade_no) VALUES (:p, :t)"),
        {"p": row.id, "t": trade_no},
    )
    return HandOff(row.id, trade_no, row.status, row.amount_twd, row.customer_id, fresh)


def record_not_paid(session: Session, trade_no: str, rtn_code: int, rtn_msg: str) -> None:
    """Keep ECPay's verified answer about a hand-off that did not pay (a declined card: RtnCode 10100058)."""
    session.execute(
        text(
            "UPDATE payment_checkouts SET rtn_code = :code, rtn_msg = :msg, result_at = now() "
            "WHERE merchant_trade_no = :t"
        ),
        {"code": str(rtn_code)[:20], "msg": rtn_msg[:200], "t": trade_no},
    )


@dataclass(frozen=True)
class LastCheckout:
    merchant_trade_no: str
    rtn_code: str | None
    rtn_msg: str | None
    payment_type: str | None
    bank_code: str | None
    v_account: str | None
    payment_no: str | None
    barcodes: tuple[str, ...]
    info_amount_twd: int | None
    pay_by: datetime | None
    attempts: int


def last_checkouts(session: Session, payment_ids: list[int]) -> dict[int, LastCheckout]:
    """Each payment's latest hand-off to ECPay (with the number of hand-offs), for the customer's view."""
    if not payment_ids:
        return {}
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (payment_id) payment_id, merchant_trade_no, rtn_code, rtn_msg, payment_type, "
            "bank_code, v_account, payment_no, barcode1, barcode2, barcode3, info_amount_twd, pay_by, "
            "count(*) OVER (PARTITION BY payment_id) AS attempts "
            "FROM payment_checkouts WHERE payment_id = ANY(:ids) ORDER BY payment_id, id DESC"
        ),
        {"ids": payment_ids},
    ).all()
    return {
        r.payment_id: LastCheckout(
            r.merchant_trade_no,
            r.rtn_code,
            r.rtn_msg,
            r.payment_type,
            r.bank_code,
            r.v_account,
            r.payment_no,
            tuple(b for b in (r.barcode1, r.barcode2, r.barcode3) if b),
            r.info_amount_twd,
            r.pay_by,
            r.attempts,
        )
        for r in rows
    }
