"""A customer's saved e-invoice carrier (issue 19): prefilled at their next checkout. No row: none chosen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, String, Text
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, ts


class SavedInvoiceCarrier(SQLModel, table=True):
    __tablename__ = "saved_invoice_carriers"
    __table_args__ = (
        CheckConstraint("kind IN ('mobile', 'donation')", name="ck_saved_invoice_carrier_kind"),
        CheckConstraint("length(value) BETWEEN 3 AND 8", name="ck_saved_invoice_carrier_value"),
    )
    # one carrier per customer: its key is the customer's
    customer_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # mobile (手機條碼) | donation (捐贈碼)
    value: str = Field(sa_column=Column(Text, nullable=False))  # '/ABC+123' or a love code like '168001'
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()
