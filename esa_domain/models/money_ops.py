"""Money operations (issue 21): supplier deposit history, the daily close and its differences, alert acks.

None of these rows is a lifecycle: a balance reading, a close and a difference are observations recorded once
(keyed so a second run adds nothing); an acknowledgement is one row per alert.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, fk, json_col, money, pk


class SupplierBalance(SQLModel, table=True):
    """One reading of a supplier's deposit: from the scheduled poll or from a purchase answer that reported it."""

    __tablename__ = "supplier_balances"
    __table_args__ = (Index("ix_supplier_balances_supplier_observed", "supplier_id", "observed_at"),)
    id: int | None = pk()
    supplier_id: int = fk("suppliers.id", index=False)
    balance_idr: int = money()
    source: str = Field(max_length=20)  # poll | purchase | callback
    attempt_id: int | None = fk("item_attempts.id", nullable=True, index=False)
    # the purchase or status answer it was read from: each answer is recorded once
    exchange_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("supplier_exchanges.id"), unique=True)
    )
    observed_at: datetime = created_at()


class DailyClose(SQLModel, table=True):
    """The close of one business day (Asia/Taipei): its totals, recomputed on every run of that day."""

    __tablename__ = "daily_closes"
    id: int | None = pk()
    business_day: date = Field(sa_column=Column(Date, unique=True, nullable=False))
    totals: dict[str, Any] | None = json_col()
    differences: int = 0
    computed_at: datetime = created_at()


class CloseDifference(SQLModel, table=True):
    """One difference the close found; the key makes a re-run of the same day add (and alert) nothing new."""

    __tablename__ = "close_differences"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_close_difference_key"),
        Index("ix_close_differences_day", "business_day"),
    )
    id: int | None = pk()
    business_day: date = Field(sa_column=Column(Date, nullable=False))
    kind: str = Field(max_length=40)
    dedupe_key: str = Field(sa_column=Column(String(160), nullable=False))
    payment_id: int | None = fk("payments.id", nullable=True, index=False)
    supplier_id: int | None = fk("suppliers.id", nullable=True, index=False)
    merchant_trade_no: str | None = Field(default=None, max_length=40)
    amount: int | None = money(nullable=True)  # TWD for ECPay differences, IDR for supplier ones
    detail: str = Field(max_length=500)
    found_at: datetime = created_at()


class AlertAck(SQLModel, table=True):
    """An operator acknowledged an alert (once)."""

    __tablename__ = "alert_acks"
    id: int | None = pk()
    alert_id: int = Field(sa_column=Column(BigInteger, ForeignKey("alerts.id"), unique=True, nullable=False))
    operator_id: int | None = fk("operators.id", nullable=True, index=False)
    note: str | None = Field(default=None, max_length=300)
    acknowledged_at: datetime = created_at()
