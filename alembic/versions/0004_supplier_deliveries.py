"""structured deliveries (issue 14)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # what a supplier delivered per item; PINs and voucher codes only encrypted (esa_domain/fulfillment/delivery.py)
    op.create_table(
        "item_deliveries",
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("attempt_id", sa.BigInteger(), nullable=True),
        sa.Column("serial", sa.String(length=200), nullable=True),
        sa.Column("token", sa.String(length=80), nullable=True),
        sa.Column("customer_name", sa.String(length=120), nullable=True),
        sa.Column("tariff", sa.String(length=40), nullable=True),
        sa.Column("kwh", sa.String(length=40), nullable=True),
        sa.Column("pin_enc", sa.Text(), nullable=True),
        sa.Column("voucher_code_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["payment_items.id"]),
        sa.ForeignKeyConstraint(["attempt_id"], ["item_attempts.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )


def downgrade() -> None:
    op.drop_table("item_deliveries")
