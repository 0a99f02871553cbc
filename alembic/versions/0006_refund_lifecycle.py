"""refunds as their own lifecycle (issue 21): refunds, refund_history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "('CONFIRMED', 'FAILED', 'MANUAL', 'REQUESTED', 'SENT')"
_LIVE = "('REQUESTED', 'SENT')"
_OPEN = "('FAILED', 'MANUAL', 'REQUESTED', 'SENT')"


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("amount_twd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("bank_details", sa.String(length=300), nullable=True),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("ecpay_answer", sa.String(length=200), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN {_STATUSES}", name="ck_refund_status"),
        sa.CheckConstraint("amount_twd > 0", name="ck_refund_amount_positive"),
        sa.CheckConstraint("purpose IN ('undelivered', 'operator')", name="ck_refund_purpose"),
        sa.CheckConstraint("method IN ('ecpay', 'manual')", name="ck_refund_method"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payment_id", "sequence", name="uq_refund_payment_sequence"),
    )
    op.create_index(
        "uq_refund_undelivered",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text("purpose = 'undelivered'"),
    )
    op.create_index(
        "uq_refund_one_live",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text(f"status IN {_LIVE}"),
    )
    op.create_index(
        "ix_refunds_open", "refunds", ["status", "updated_at"], postgresql_where=sa.text(f"status IN {_OPEN}")
    )
    op.create_table(
        "refund_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("refund_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_refund_history_refund", "refund_history", ["refund_id", "id"])
    op.create_index(op.f("ix_refund_history_payment_id"), "refund_history", ["payment_id"])


def downgrade() -> None:
    op.drop_table("refund_history")
    op.drop_table("refunds")
