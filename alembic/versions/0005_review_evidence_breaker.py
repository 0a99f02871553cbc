"""evidence beats review and the breaker (issue 21)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ITEM_OLD = "('FAILED', 'NEEDS_REVIEW', 'PENDING', 'PROCESSING', 'SUCCESS', 'SUPPLIER_PENDING')"
_ITEM_NEW = "('FAILED', 'NEEDS_REVIEW', 'PENDING', 'PROCESSING', 'SUCCESS', 'SUPPLIER_PENDING', 'WAITING')"
_OPEN_OLD = "status IN ('PENDING', 'PROCESSING', 'SUPPLIER_PENDING')"
_OPEN_NEW = "status IN ('PENDING', 'PROCESSING', 'SUPPLIER_PENDING', 'WAITING')"


# the signed SUCCESS callbacks recorded before this could apply them to an item in review (the order):
# their word counts now, so "not delivered" is refused for those items too
BACKFILL_EVIDENCE = (
    "UPDATE supplier_exchanges SET outcome = 'SUCCESS' WHERE operation = 'callback' AND error IS NULL "
    "AND outcome IS NULL AND attempt_id IS NOT NULL AND response_json->>'outcome' = 'SUCCESS' "
    "AND (response_json->>'verdict' = 'apply' OR response_json->>'verdict' LIKE 'ignored%')"
)
# items already in review are asked about once more, now that a definite answer settles them
RECHECK_REVIEWS = (
    "INSERT INTO outbox (topic, payload, dispatch_attempts) "
    "SELECT 'check_attempt', jsonb_build_object('attempt_id', a.id), 0 FROM item_attempts a "
    "JOIN payment_items i ON i.id = a.item_id "
    "WHERE i.status = 'NEEDS_REVIEW' AND a.state IN ('SENDING', 'PENDING', 'UNKNOWN')"
)


def _items(statuses: str, open_where: str) -> None:
    op.drop_constraint("ck_item_status", "payment_items", type_="check")
    op.create_check_constraint("ck_item_status", "payment_items", f"status IN {statuses}")
    op.drop_index("ix_items_open", table_name="payment_items")
    op.create_index(
        "ix_items_open", "payment_items", ["status", "updated_at"], postgresql_where=sa.text(open_where)
    )


def upgrade() -> None:
    # an item waits (WAITING) while every remaining supplier is held back, instead of failing
    _items(_ITEM_NEW, _OPEN_NEW)
    # the breaker: the one probe after the cool-down, per supplier and per offer (out of stock is per product)
    op.add_column("suppliers", sa.Column("probe_item_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "supplier_offers",
        sa.Column("consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "supplier_offers", sa.Column("circuit_open_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("supplier_offers", sa.Column("probe_item_id", sa.BigInteger(), nullable=True))
    # what we read from each exchange: the supplier's last word per item
    op.add_column("supplier_exchanges", sa.Column("outcome", sa.String(length=40), nullable=True))
    op.execute(BACKFILL_EVIDENCE)
    op.execute(RECHECK_REVIEWS)


def downgrade() -> None:
    op.drop_column("supplier_exchanges", "outcome")
    op.drop_column("supplier_offers", "probe_item_id")
    op.drop_column("supplier_offers", "circuit_open_until")
    op.drop_column("supplier_offers", "consecutive_failures")
    op.drop_column("suppliers", "probe_item_id")
    op.execute("UPDATE payment_items SET status = 'PENDING' WHERE status = 'WAITING'")
    _items(_ITEM_OLD, _OPEN_OLD)
