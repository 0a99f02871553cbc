"""running the business from the dashboard (issue 18): discovered_skus; products.display_order, sale hours;
promo_products, promos.per_customer_limit, promo_usages.use_no

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
    op.create_table(
        "promo_products",
        sa.Column("promo_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["promo_id"], ["promos.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("promo_id", "product_id"),
    )
    op.add_column(
        "promos", sa.Column("per_customer_limit", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.create_check_constraint("ck_promo_per_customer", "promos", "per_customer_limit >= 1")
    op.add_column(
        "promo_usages", sa.Column("use_no", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.drop_constraint("uq_promo_usage_customer", "promo_usages", type_="unique")
    op.create_unique_constraint(
        "uq_promo_usage_customer_use", "promo_usages", ["promo_id", "customer_id", "use_no"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_promo_usage_customer_use", "promo_usages", type_="unique")
    op.execute("DELETE FROM promo_usages WHERE use_no > 1")  # the older schema holds one use per customer
    op.create_unique_constraint("uq_promo_usage_customer", "promo_usages", ["promo_id", "customer_id"])
    op.drop_column("promo_usages", "use_no")
    op.drop_constraint("ck_promo_per_customer", "promos", type_="check")
    op.drop_column("promos", "per_customer_limit")
    op.drop_table("promo_products")
    op.drop_column("products", "sale_until")
    op.drop_column("products", "sale_from")
    op.drop_column("products", "display_order")
    op.drop_table("discovered_skus")
