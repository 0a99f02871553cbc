"""bill inquiries as their own lifecycle (issue 16): bill_inquiries, bill_inquiry_history

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "('EXPIRED', 'FAILED', 'NOT_FOUND', 'QUOTED', 'REQUESTED', 'USED')"


def upgrade() -> None:
    op.create_table(
        "bill_inquiries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("customer_no", sa.String(length=40), nullable=False),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("region", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("supplier_sku", sa.String(length=60), nullable=False),
        sa.Column("supplier_txn_id", sa.String(length=80), nullable=True),
        sa.Column("supplier_code", sa.String(length=40), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=True),
        sa.Column("customer_name", sa.String(length=120), nullable=True),
        sa.Column("periods", sa.String(length=120), nullable=True),
        sa.Column("bill_idr", sa.BigInteger(), nullable=True),
        sa.Column("admin_idr", sa.BigInteger(), nullable=True),
        sa.Column("price_idr", sa.BigInteger(), nullable=True),
        sa.Column("cost_idr", sa.BigInteger(), nullable=True),
        sa.Column("fx_rate_id", sa.BigInteger(), nullable=True),
        sa.Column("fx_rate", sa.Numeric(24, 12), nullable=True),
        sa.Column("amount_twd", sa.BigInteger(), nullable=True),
        sa.Column("detail_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("request_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_item_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN {_STATUSES}", name="ck_bill_inquiry_status"),
        sa.CheckConstraint("months IS NULL OR months BETWEEN 1 AND 12", name="ck_bill_inquiry_months"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"]),
        sa.ForeignKeyConstraint(["fx_rate_id"], ["fx_rates.id"]),
        sa.ForeignKeyConstraint(["payment_item_id"], ["payment_items.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index(
        "uq_bill_inquiry_item",
        "bill_inquiries",
        ["payment_item_id"],
        unique=True,
        postgresql_where=sa.text("payment_item_id IS NOT NULL"),
    )
    op.create_index("ix_bill_inquiries_customer", "bill_inquiries", ["customer_id", "created_at"])
    op.create_index(
        "ix_bill_inquiries_quoted",
        "bill_inquiries",
        ["expires_at"],
        postgresql_where=sa.text("status = 'QUOTED'"),
    )
    op.create_table(
        "bill_inquiry_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("inquiry_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["inquiry_id"], ["bill_inquiries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bill_inquiry_history_inquiry", "bill_inquiry_history", ["inquiry_id", "id"])
    op.create_index(op.f("ix_bill_inquiry_history_customer_id"), "bill_inquiry_history", ["customer_id"])


def downgrade() -> None:
    op.drop_table("bill_inquiry_history")
    op.drop_table("bill_inquiries")
