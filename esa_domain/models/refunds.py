"""Refunds: one row per refund of a payment, keyed (payment, sequence), and the history of every move.

A payment's undelivered part is refunded at most once (uq_refund_undelivered), and a payment has at most one
refund on its way to ECPay at a time (uq_refund_one_live), so ECPay's record of the trade tells which of our
refunds it has made.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from esa_domain.core.states import REFUND_LIVE, REFUND_OPEN, RefundStatus
from esa_domain.models._base import created_at, fk, money, pk, ts


def _in(values) -> str:  # type: ignore[no-untyped-def]
    return "(" + ", ".join(f"'{v}'" for v in sorted(str(v) for v in values)) + ")"


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("payment_id", "sequence", name="uq_refund_payment_sequence"),
        CheckConstraint(f"status IN {_in(RefundStatus)}", name="ck_refund_status"),
        CheckConstraint("amount_twd > 0", name="ck_refund_amount_positive"),
        CheckConstraint("purpose IN ('undelivered', 'operator', 'second_pay')", name="ck_refund_purpose"),
        CheckConstraint("method IN ('ecpay', 'manual')", name="ck_refund_method"),
        # what was not delivered is refunded once, whoever starts it (the worker, the reconciler, an operator)
        Index(
            "uq_refund_undelivered",
            "payment_id",
            unique=True,
            postgresql_where=text("purpose = 'undelivered'"),
        ),
        # one refund on its way at a time: ECPay's refunded total then says whether this one was made
        Index(
            "uq_refund_one_live",
            "payment_id",
            unique=True,
            postgresql_where=text(f"status IN {_in(REFUND_LIVE)} AND merchant_trade_no IS NULL"),
        ),
        # a second paid hand-off of one order (its own ECPay trade) is refunded once, whole
        Index(
            "uq_refund_trade",
            "merchant_trade_no",
            unique=True,
            postgresql_where=text("merchant_trade_no IS NOT NULL"),
        ),
        # the reconciler's and the stuck list's scan: refunds not finished
        Index(
            "ix_refunds_open", "status", "updated_at", postgresql_where=text(f"status IN {_in(REFUND_OPEN)}")
        ),
    )
    id: int | None = pk()
    payment_id: int = fk("payments.id", index=False)
    sequence: int  # 1, 2, ... per payment
    # undelivered (FAILED/PARTIAL items) | operator (goodwill, dispute) | second_pay (a second paid hand-off)
    purpose: str = Field(max_length=12)
    method: str = Field(max_length=8)  # ecpay (DoAction R) | manual (an operator's task)
    amount_twd: int = money()
    # the ECPay trade refunded when it is not the payment's own: a second paid hand-off (payment_checkouts)
    merchant_trade_no: str | None = Field(default=None, max_length=20)
    trade_no: str | None = Field(default=None, max_length=40)  # its ECPay TradeNo
    status: str = Field(default=RefundStatus.REQUESTED, max_length=12)
    reason: str = Field(max_length=300)
    requested_by: str = Field(max_length=80)  # system:<component> | operator:<username>
    bank_details: str | None = Field(
        default=None, max_length=300
    )  # the customer's account, for a manual task
    reference: str | None = Field(default=None, max_length=120)  # the operator's transfer reference
    ecpay_answer: str | None = Field(default=None, max_length=200)  # the last RtnCode/RtnMsg or query verdict
    sends: int = 0  # DoAction requests sent for it (a resume after ECPay had no record of it sends again)
    sent_at: datetime | None = ts()  # the last DoAction left (or was about to): resumed only after a grace
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()
    finished_at: datetime | None = ts()


class RefundHistory(SQLModel, table=True):
    """Every move of a refund: from, to, cause, actor, time (written only by esa_domain.core.transitions)."""

    __tablename__ = "refund_history"
    __table_args__ = (Index("ix_refund_history_refund", "refund_id", "id"),)
    id: int | None = pk()
    refund_id: int = fk("refunds.id", index=False)
    payment_id: int = fk("payments.id")
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str = Field(max_length=12)
    cause: str = Field(max_length=300)
    actor: str = Field(max_length=80)
    created_at: datetime = created_at()
