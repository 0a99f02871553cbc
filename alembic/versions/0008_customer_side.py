"""the customer's side in LINE (issue 17)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("language", sa.String(length=8), server_default=sa.text("'id'"), nullable=False),
    )
    op.create_table(
        "payment_checkouts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_trade_no", sa.String(length=20), nullable=False),
        sa.Column("rtn_code", sa.String(length=20), nullable=True),
        sa.Column("rtn_msg", sa.String(length=200), nullable=True),
        sa.Column("result_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_type", sa.String(length=40), nullable=True),
        sa.Column("bank_code", sa.String(length=10), nullable=True),
        sa.Column("v_account", sa.String(length=20), nullable=True),
        sa.Column("payment_no", sa.String(length=20), nullable=True),
        sa.Column("barcode1", sa.String(length=20), nullable=True),
        sa.Column("barcode2", sa.String(length=20), nullable=True),
        sa.Column("barcode3", sa.String(length=20), nullable=True),
        sa.Column("info_amount_twd", sa.BigInteger(), nullable=True),
        sa.Column("pay_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("info_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merchant_trade_no"),
    )
    op.create_index("ix_payment_checkouts_payment_id", "payment_checkouts", ["payment_id"])
    op.create_table(
        "customer_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("retry_key", sa.String(length=36), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payment_id", "kind", name="uq_customer_message_kind"),
        sa.CheckConstraint(
            "status IN ('FAILED', 'QUEUED', 'SENT', 'SKIPPED')", name="ck_customer_message_status"
        ),
    )
    op.create_index("ix_customer_messages_customer_id", "customer_messages", ["customer_id"])
    op.create_index(
        "ix_customer_messages_queued",
        "customer_messages",
        ["created_at"],
        postgresql_where=sa.text("status = 'QUEUED'"),
    )
    op.create_table(
        "customer_message_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=10), nullable=True),
        sa.Column("to_status", sa.String(length=10), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["customer_messages.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_message_history_message", "customer_message_history", ["message_id", "id"])
    op.create_index("ix_customer_message_history_payment_id", "customer_message_history", ["payment_id"])


def downgrade() -> None:
    op.drop_table("customer_message_history")
    op.drop_table("customer_messages")
    op.drop_table("payment_checkouts")
    op.drop_column("customers", "language")
