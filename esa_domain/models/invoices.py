"""E-invoices (issue 19): one ECPay B2C invoice per payment, its adjustments (allowances and invalidation), the
history of every move, and every request and response with ECPay's e-invoice API (redacted).

- `invoices`: one row per payment (uq), one RelateNumber each (uq), written in the transaction that settles the
  payment. `amount_twd` is what is to be invoiced (the kept amount: lowered by a refund confirmed before the
  invoice was issued); `issued_twd` what the issued invoice says; `allowance_twd` the allowances ECPay made.
- `invoice_allowances`: one adjustment per refund (uq on refund_id), `kind` 'allowance' (折讓, part of the
  invoice) or 'invalidation' (作廢, all of it, inside the allowed period: at most one per invoice), each with
  its own reference minted before its request leaves.
- `invoice_history`: every move of an invoice or of an adjustment (adjustment_id names the latter).
- `invoice_exchanges`: every request (the Data as sent, before encryption) and answer (Data decrypted), with
  TransCode/RtnCode, latency; HashKey/HashIV never appear in them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from esa_domain.core.states import ADJUSTMENT_OPEN, INVOICE_OPEN, AdjustmentStatus, InvoiceStatus
from esa_domain.models._base import created_at, fk, json_col, money, pk, ts

CARRIER_KINDS = ("donation", "mobile", "none")
ADJUSTMENT_KINDS = ("allowance", "invalidation")


def _in(values) -> str:  # type: ignore[no-untyped-def]
    return "(" + ", ".join(f"'{v}'" for v in sorted(str(v) for v in values)) + ")"


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("payment_id", name="uq_invoice_payment"),
        CheckConstraint(f"status IN {_in(InvoiceStatus)}", name="ck_invoice_status"),
        CheckConstraint(f"carrier_kind IN {_in(CARRIER_KINDS)}", name="ck_invoice_carrier_kind"),
        CheckConstraint("amount_twd >= 0", name="ck_invoice_amount"),
        CheckConstraint("allowance_twd >= 0", name="ck_invoice_allowance"),
        CheckConstraint("issued_twd IS NULL OR allowance_twd <= issued_twd", name="ck_invoice_allowance_max"),
        # the watchdog's and the heal's scan: invoices not issued yet
        Index(
            "ix_invoices_open",
            "status",
            "created_at",
            postgresql_where=text(f"status IN {_in(INVOICE_OPEN)}"),
        ),
        Index("ix_invoices_issued_at", "issued_at"),
    )
    id: int | None = pk()
    payment_id: int = fk("payments.id", index=False)  # one invoice per payment (uq_invoice_payment)
    relate_number: str = Field(sa_column=Column(String(30), unique=True, nullable=False))
    status: str = Field(default=InvoiceStatus.PENDING, max_length=12)
    amount_twd: int = money()  # what is to be invoiced: delivered, less the discount and earlier refunds
    issued_twd: int | None = money(nullable=True)  # SalesAmount of the issued invoice
    allowance_twd: int = money(default=0)  # allowances ECPay made (DONE)
    carrier_kind: str = Field(max_length=10)  # none | mobile | donation, copied from the payment
    carrier_value: str | None = Field(default=None, max_length=20)
    invoice_no: str | None = Field(default=None, max_length=10)  # e.g. AB12345678
    random_number: str | None = Field(default=None, max_length=4)  # the 4-digit random code
    invoice_date: str | None = Field(default=None, max_length=20)  # ECPay's InvoiceDate as answered
    ecpay_answer: str | None = Field(default=None, max_length=200)  # the last RtnCode/RtnMsg
    tries: int = 0  # Issue requests sent (a retry asks GetIssue first)
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()
    issued_at: datetime | None = ts()
    invalidated_at: datetime | None = ts()


class InvoiceAllowance(SQLModel, table=True):
    __tablename__ = "invoice_allowances"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(AdjustmentStatus)}", name="ck_invoice_adjustment_status"),
        CheckConstraint(f"kind IN {_in(ADJUSTMENT_KINDS)}", name="ck_invoice_adjustment_kind"),
        CheckConstraint("amount_twd > 0", name="ck_invoice_adjustment_amount"),
        # one adjustment per refund, whoever confirms it (the refund worker, the reconciler, an operator)
        Index(
            "uq_invoice_adjustment_refund",
            "refund_id",
            unique=True,
            postgresql_where=text("refund_id IS NOT NULL"),
        ),
        # an invoice is invalidated once
        Index(
            "uq_invoice_invalidation",
            "invoice_id",
            unique=True,
            postgresql_where=text("kind = 'invalidation'"),
        ),
        Index(
            "ix_invoice_adjustments_open",
            "status",
            "created_at",
            postgresql_where=text(f"status IN {_in(ADJUSTMENT_OPEN)}"),
        ),
        Index("ix_invoice_adjustments_finished", "finished_at"),
    )
    id: int | None = pk()
    invoice_id: int = fk("invoices.id")
    payment_id: int = fk("payments.id", index=False)
    refund_id: int | None = fk("refunds.id", nullable=True, index=False)  # None: the rest of an early refund
    kind: str = Field(max_length=12)  # allowance | invalidation
    reference: str = Field(sa_column=Column(String(30), unique=True, nullable=False))
    amount_twd: int = money()
    status: str = Field(default=AdjustmentStatus.REQUESTED, max_length=12)
    allowance_no: str | None = Field(default=None, max_length=20)  # ECPay's IA_Allow_No
    remain_twd: int | None = money(nullable=True)  # IA_Remain_Allowance_Amt after it
    ecpay_answer: str | None = Field(default=None, max_length=200)
    tries: int = 0
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()
    finished_at: datetime | None = ts()


class InvoiceHistory(SQLModel, table=True):
    """Every move of an invoice or one of its adjustments (written only by esa_domain.core.transitions)."""

    __tablename__ = "invoice_history"
    __table_args__ = (Index("ix_invoice_history_invoice", "invoice_id", "id"),)
    id: int | None = pk()
    invoice_id: int = fk("invoices.id", index=False)
    payment_id: int = fk("payments.id")
    adjustment_id: int | None = fk("invoice_allowances.id", nullable=True, index=False)
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str = Field(max_length=12)
    cause: str = Field(max_length=300)
    actor: str = Field(max_length=80)
    created_at: datetime = created_at()


class InvoiceExchange(SQLModel, table=True):
    """One request to ECPay's e-invoice API and its answer: the Data as sent and as decrypted, never the keys."""

    __tablename__ = "invoice_exchanges"
    __table_args__ = (Index("ix_invoice_exchanges_invoice", "invoice_id", "id"),)
    id: int | None = pk()
    invoice_id: int | None = fk("invoices.id", nullable=True, index=False)
    adjustment_id: int | None = fk("invoice_allowances.id", nullable=True, index=False)
    operation: str = Field(max_length=20)  # Issue, GetIssue, Allowance, Invalid, ...
    request_json: dict | None = json_col()
    response_json: dict | None = json_col()
    http_status: int | None = None
    trans_code: int | None = None
    rtn_code: int | None = None
    latency_ms: int | None = None
    created_at: datetime = created_at()
