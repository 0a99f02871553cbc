"""Bill inquiries (issue 16): one row per inquiry of one bill at one supplier, and the history of every move.

An inquiry is asked once at one supplier; its answer (the bill's name, periods, amounts and the supplier's
redacted exchange) is kept with it. An order placed from it stores it (payment_item_id, unique): a quote pays
at most one item, and that item is paid only at the supplier that answered, with the inquiry's reference.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Column, Index, Numeric, String, text
from sqlmodel import Field, SQLModel

from esa_domain.core.states import BillInquiryStatus
from esa_domain.models._base import created_at, fk, json_col, money, pk, ts


def _in(values) -> str:  # type: ignore[no-untyped-def]
    return "(" + ", ".join(f"'{v}'" for v in sorted(str(v) for v in values)) + ")"


class BillInquiry(SQLModel, table=True):
    __tablename__ = "bill_inquiries"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(BillInquiryStatus)}", name="ck_bill_inquiry_status"),
        CheckConstraint("months IS NULL OR months BETWEEN 1 AND 12", name="ck_bill_inquiry_months"),
        # a quote is paid by one item, ever
        Index(
            "uq_bill_inquiry_item",
            "payment_item_id",
            unique=True,
            postgresql_where=text("payment_item_id IS NOT NULL"),
        ),
        Index("ix_bill_inquiries_customer", "customer_id", "created_at"),
        # the expiry sweep: quotes still held
        Index("ix_bill_inquiries_quoted", "expires_at", postgresql_where=text("status = 'QUOTED'")),
    )
    id: int | None = pk()
    customer_id: int = fk("customers.id", index=False)
    product_id: int = fk("products.id", index=False)
    supplier_id: int = fk("suppliers.id", index=False)
    reference: str = Field(sa_column=Column(String(40), unique=True, nullable=False))  # our ref_id
    customer_no: str = Field(max_length=40)
    months: int | None = None  # BPJS: how many months are paid
    region: str | None = Field(default=None, max_length=40)  # PDAM: the water company's region
    status: str = Field(default=BillInquiryStatus.REQUESTED, max_length=12)
    supplier_sku: str = Field(max_length=60)
    supplier_txn_id: str | None = Field(
        default=None, max_length=80
    )  # IAK tr_id: the payment is signed with it
    supplier_code: str | None = Field(default=None, max_length=40)
    message: str | None = Field(default=None, max_length=300)
    customer_name: str | None = Field(default=None, max_length=120)
    periods: str | None = Field(default=None, max_length=120)
    bill_idr: int | None = money(nullable=True)  # the bill itself (nominal)
    admin_idr: int | None = money(nullable=True)  # the biller's admin fee
    price_idr: int | None = money(nullable=True)  # what the bill costs in total (nominal + admin)
    cost_idr: int | None = money(nullable=True)  # what the supplier deducts from our deposit
    fx_rate_id: int | None = fk("fx_rates.id", nullable=True, index=False)
    fx_rate: Decimal | None = Field(default=None, sa_column=Column(Numeric(24, 12), nullable=True))
    amount_twd: int | None = money(nullable=True)  # the customer's TWD total for it
    detail_json: dict | None = json_col()  # the bill's own details (branch, tariff, stand meter...)
    request_json: dict | None = json_col()  # the inquiry as sent, redacted
    response_json: dict | None = json_col()  # the supplier's answer as received, redacted
    http_status: int | None = None
    expires_at: datetime | None = ts()
    payment_item_id: int | None = fk("payment_items.id", nullable=True, index=False)
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()


class BillInquiryHistory(SQLModel, table=True):
    """Every move of a bill inquiry (written only by esa_domain.core.transitions)."""

    __tablename__ = "bill_inquiry_history"
    __table_args__ = (Index("ix_bill_inquiry_history_inquiry", "inquiry_id", "id"),)
    id: int | None = pk()
    inquiry_id: int = fk("bill_inquiries.id", index=False)
    customer_id: int = fk("customers.id")
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str = Field(max_length=12)
    cause: str = Field(max_length=300)
    actor: str = Field(max_length=80)
    created_at: datetime = created_at()
