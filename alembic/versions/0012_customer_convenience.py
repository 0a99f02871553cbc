"""customer convenience (issue 17): a refund may target another ECPay trade of its payment (a second paid
hand-off), and a customer's saved numbers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = "('REQUESTED', 'SENT')"


def upgrade() -> None:
    op.add_column("refunds", sa.Column("merchant_trade_no", sa.String(length=20), nullable=True))
    op.add_column("refunds", sa.Column("trade_no", sa.String(length=40), nullable=True))
    op.drop_constraint("ck_refund_purpose", "refunds", type_="check")
    op.create_check_constraint(
        "ck_refund_purpose", "refunds", "purpose IN ('undelivered', 'operator', 'second_pay')"
    )
    op.drop_index("uq_refund_one_live", table_name="refunds")
    op.create_index(
        "uq_refund_one_live",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text(f"status IN {_LIVE} AND merchant_trade_no IS NULL"),
    )
    op.create_index(
        "uq_refund_trade",
        "refunds",
        ["merchant_trade_no"],
        unique=True,
        postgresql_where=sa.text("merchant_trade_no IS NOT NULL"),
    )
    op.create_table(
        "saved_numbers",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("operator", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 40", name="ck_saved_number_name"),
        sa.CheckConstraint(
            "kind IN ('phone', 'pln_meter', 'customer_no', 'game_id')", name="ck_saved_number_kind"
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "target", name="uq_saved_number_target"),
    )


def downgrade() -> None:
    op.drop_table("saved_numbers")
    # refunds of another trade do not exist before this revision
    op.execute(
        "DELETE FROM refund_history WHERE refund_id IN (SELECT id FROM refunds WHERE merchant_trade_no IS NOT NULL)"
    )
    op.execute("DELETE FROM refunds WHERE merchant_trade_no IS NOT NULL")
    op.drop_index("uq_refund_trade", table_name="refunds")
    op.drop_index("uq_refund_one_live", table_name="refunds")
    op.create_index(
        "uq_refund_one_live",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text(f"status IN {_LIVE}"),
    )
    op.drop_constraint("ck_refund_purpose", "refunds", type_="check")
    op.create_check_constraint("ck_refund_purpose", "refunds", "purpose IN ('undelivered', 'operator')")
    op.drop_column("refunds", "trade_no")
    op.drop_column("refunds", "merchant_trade_no")
