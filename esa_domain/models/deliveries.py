"""What a supplier delivered for an item, as structured data (issue 14).

One row per delivered item, written in the same transaction that moves the item to SUCCESS. The secrets that ARE
the product (a voucher PIN, a voucher code) are stored only encrypted (AES-GCM, `esa_domain.fulfillment.delivery`);
the serial, the PLN token and the meter facts (customer name, tariff, kWh) are stored as answered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Text
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, fk


class ItemDelivery(SQLModel, table=True):
    __tablename__ = "item_deliveries"
    item_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("payment_items.id"), primary_key=True, autoincrement=False)
    )
    attempt_id: int | None = fk("item_attempts.id", nullable=True, index=False)
    serial: str | None = Field(default=None, max_length=200)
    token: str | None = Field(default=None, max_length=80)  # PLN prepaid token (20 digits, grouped)
    customer_name: str | None = Field(default=None, max_length=120)
    tariff: str | None = Field(default=None, max_length=40)  # e.g. R1/1300VA
    kwh: str | None = Field(default=None, max_length=40)  # as the supplier states it ("23.9")
    pin_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # AES-GCM, base64
    voucher_code_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at()
