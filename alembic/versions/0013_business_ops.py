"""running the business from the dashboard (issue 18): discovered_skus; products.display_order, sale hours

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discovered_skus",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_sku", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("cost_idr", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column(
            "first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("adopted_offer_id", sa.BigInteger(), nullable=True),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"]),
        sa.ForeignKeyConstraint(["adopted_offer_id"], ["supplier_offers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("supplier_id", "supplier_sku", name="uq_discovered_sku"),
    )
    op.add_column(
        "products", sa.Column("display_order", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("products", sa.Column("sale_from", sa.Time(), nullable=True))
    op.add_column("products", sa.Column("sale_until", sa.Time(), nullable=True))


def downgrade() -> None:
    op.drop_column("products", "sale_until")
    op.drop_column("products", "sale_from")
    op.drop_column("products", "display_order")
    op.drop_table("discovered_skus")
