"""e-invoices (issue 19): invoices, allowances, their history; the carrier on payments

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INVOICE = "('FAILED', 'INVALIDATED', 'ISSUED', 'PENDING', 'VOID')"
_INVOICE_OPEN = "('FAILED', 'PENDING')"
_ADJ = "('DONE', 'FAILED', 'REQUESTED')"
_ADJ_OPEN = "('FAILED', 'REQUESTED')"
_CARRIERS = "('donation', 'mobile', 'none')"


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _created() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column("invoice_carrier_kind", sa.Text(), server_default=sa.text("'none'"), nullable=False),
    )
    op.add_column("payments", sa.Column("invoice_carrier_value", sa.Text(), nullable=True))
    op.create_check_constraint(
        "ck_payment_invoice_carrier_kind", "payments", f"invoice_carrier_kind IN {_CARRIERS}"
    )

    op.create_table(
        "invoices",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("relate_number", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("amount_twd", sa.BigInteger(), nullable=False),
        sa.Column("issued_twd", sa.BigInteger(), nullable=True),
        sa.Column("allowance_twd", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("carrier_kind", sa.String(length=10), nullable=False),
        sa.Column("carrier_value", sa.String(length=20), nullable=True),
        sa.Column("invoice_no", sa.String(length=10), nullable=True),
        sa.Column("random_number", sa.String(length=4), nullable=True),
        sa.Column("invoice_date", sa.String(length=20), nullable=True),
        sa.Column("ecpay_answer", sa.String(length=200), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        _created(),
        _ts("updated_at"),
        _ts("issued_at"),
        _ts("invalidated_at"),
        sa.CheckConstraint(f"status IN {_INVOICE}", name="ck_invoice_status"),
        sa.CheckConstraint(f"carrier_kind IN {_CARRIERS}", name="ck_invoice_carrier_kind"),
        sa.CheckConstraint("amount_twd >= 0", name="ck_invoice_amount"),
        sa.CheckConstraint("allowance_twd >= 0", name="ck_invoice_allowance"),
        sa.CheckConstraint(
            "issued_twd IS NULL OR allowance_twd <= issued_twd", name="ck_invoice_allowance_max"
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payment_id", name="uq_invoice_payment"),
        sa.UniqueConstraint("relate_number"),
    )
    op.create_index(
        "ix_invoices_open",
        "invoices",
        ["status", "created_at"],
        postgresql_where=sa.text(f"status IN {_INVOICE_OPEN}"),
    )
    op.create_index("ix_invoices_issued_at", "invoices", ["issued_at"])

    op.create_table(
        "invoice_allowances",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("refund_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reference", sa.String(length=30), nullable=False),
        sa.Column("amount_twd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("allowance_no", sa.String(length=20), nullable=True),
        sa.Column("remain_twd", sa.BigInteger(), nullable=True),
        sa.Column("ecpay_answer", sa.String(length=200), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        _created(),
        _ts("updated_at"),
        _ts("finished_at"),
        sa.CheckConstraint(f"status IN {_ADJ}", name="ck_invoice_adjustment_status"),
        sa.CheckConstraint("kind IN ('allowance', 'invalidation')", name="ck_invoice_adjustment_kind"),
        sa.CheckConstraint("amount_twd > 0", name="ck_invoice_adjustment_amount"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index(op.f("ix_invoice_allowances_invoice_id"), "invoice_allowances", ["invoice_id"])
    op.create_index(
        "uq_invoice_adjustment_refund",
        "invoice_allowances",
        ["refund_id"],
        unique=True,
        postgresql_where=sa.text("refund_id IS NOT NULL"),
    )
    op.create_index(
        "uq_invoice_invalidation",
        "invoice_allowances",
        ["invoice_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'invalidation'"),
    )
    op.create_index(
        "ix_invoice_adjustments_open",
        "invoice_allowances",
        ["status", "created_at"],
        postgresql_where=sa.text(f"status IN {_ADJ_OPEN}"),
    )
    op.create_index("ix_invoice_adjustments_finished", "invoice_allowances", ["finished_at"])

    op.create_table(
        "invoice_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("adjustment_id", sa.BigInteger(), nullable=True),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.ForeignKeyConstraint(["adjustment_id"], ["invoice_allowances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invoice_history_invoice", "invoice_history", ["invoice_id", "id"])
    op.create_index(op.f("ix_invoice_history_payment_id"), "invoice_history", ["payment_id"])

    op.create_table(
        "invoice_exchanges",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("adjustment_id", sa.BigInteger(), nullable=True),
        sa.Column("operation", sa.String(length=20), nullable=False),
        sa.Column("request_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("trans_code", sa.Integer(), nullable=True),
        sa.Column("rtn_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.ForeignKeyConstraint(["adjustment_id"], ["invoice_allowances.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invoice_exchanges_invoice", "invoice_exchanges", ["invoice_id", "id"])


def downgrade() -> None:
    op.drop_table("invoice_exchanges")
    op.drop_table("invoice_history")
    op.drop_table("invoice_allowances")
    op.drop_table("invoices")
    op.drop_constraint("ck_payment_invoice_carrier_kind", "payments", type_="check")
    op.drop_column("payments", "invoice_carrier_value")
    op.drop_column("payments", "invoice_carrier_kind")
