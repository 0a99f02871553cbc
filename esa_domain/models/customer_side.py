"""The customer's side: every hand-off of an order to ECPay (one MerchantTradeNo each, with what ECPay answered
about it and the payment code of an offline method), and every LINE message sent to a customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from esa_domain.core.states import MessageStatus
from esa_domain.models._base import created_at, fk, money, pk, ts

_STATUSES = "(" + ", ".join(f"'{s}'" for s in sorted(MessageStatus)) + ")"


class PaymentCheckout(SQLModel, table=True):
    """One hand-off of an order to ECPay under its own MerchantTradeNo (ECPay refuses a number twice, so paying
    again after a declined card or an abandoned page is a new row). At most one of an order's checkouts is ever
    accepted: the payment's compare-and-set PENDING -> PAID decides."""

    __tablename__ = "payment_checkouts"
    id: int | None = pk()
    payment_id: int = fk("payments.id")
    merchant_trade_no: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    # what ECPay last said about this trade: RtnCode/RtnMsg of a notification that was not a payment
    rtn_code: str | None = Field(default=None, max_length=20)
    rtn_msg: str | None = Field(default=None, max_length=200)
    result_at: datetime | None = ts()
    # PaymentInfoURL: an offline method's payment code (ATM virtual account, CVS code, barcodes) and deadline
    payment_type: str | None = Field(default=None, max_length=40)
    bank_code: str | None = Field(default=None, max_length=10)
    v_account: str | None = Field(default=None, max_length=20)
    payment_no: str | None = Field(default=None, max_length=20)
    barcode1: str | None = Field(default=None, max_length=20)
    barcode2: str | None = Field(default=None, max_length=20)
    barcode3: str | None = Field(default=None, max_length=20)
    info_amount_twd: int | None = money(nullable=True)
    pay_by: datetime | None = ts()  # ECPay's ExpireDate, as an instant
    info_at: datetime | None = ts()
    created_at: datetime = created_at()


class CustomerMessage(SQLModel, table=True):
    """One LINE message to a customer about one outcome of one order: written with the outcome (unique per order
    and kind, so a re-run of the same step cannot write it twice), pushed after commit with its own retry key
    (LINE answers 409 to a second try that already got through). A lifecycle (core.states.MESSAGE)."""

    __tablename__ = "customer_messages"
    __table_args__ = (
        UniqueConstraint("payment_id", "kind", name="uq_customer_message_kind"),
        CheckConstraint(f"status IN {_STATUSES}", name="ck_customer_message_status"),
        Index("ix_customer_messages_queued", "created_at", postgresql_where=text("status = 'QUEUED'")),
    )
    id: int | None = pk()
    customer_id: int = fk("customers.id")
    payment_id: int = fk("payments.id", index=False)
    kind: str = Field(
        max_length=40
    )  # paid | delivered | failed | partial | refunded | payment_code:<trade no>
    status: str = Field(default=MessageStatus.QUEUED, max_length=10)  # core.states.MESSAGE
    retry_key: str = Field(max_length=36)
    error: str | None = Field(default=None, max_length=300)
    created_at: datetime = created_at()
    sent_at: datetime | None = ts()


class CustomerMessageHistory(SQLModel, table=True):
    """Every move of a customer message (written only by esa_domain.core.transitions)."""

    __tablename__ = "customer_message_history"
    __table_args__ = (Index("ix_customer_message_history_message", "message_id", "id"),)
    id: int | None = pk()
    message_id: int = fk("customer_messages.id", index=False)
    payment_id: int = fk("payments.id")
    from_status: str | None = Field(default=None, max_length=10)
    to_status: str = Field(max_length=10)
    cause: str = Field(max_length=300)
    actor: str = Field(max_length=80)
    created_at: datetime = created_at()
