"""order search indexes (issue 18)

The dashboard's order search (esa_domain.views.orders.search_orders) looks a text up in several places, each a
branch of one UNION of order ids, so each branch can use its own index:
- equality on payments.ecpay_trade_no (ECPay's TradeNo) and item_attempts.supplier_txn_id (a supplier's
  transaction id): plain b-tree indexes (merchant_trade_no, line_user_id, item_attempts.reference and
  payment_items.target have unique or b-tree indexes already);
- part of a customer's name (customers.display_name ILIKE '%…%') and part of a number
  (payment_items.target LIKE '%…%'): trigram GIN indexes (pg_trgm), which a b-tree cannot serve.

pg_trgm ships with PostgreSQL's contrib and is a trusted extension (a database owner may create it), but some
builds lack it (the embedded pgserver wheel does): then the trigram indexes are left out, the migration still
succeeds and says so in a log line, and those two searches read the tables as before.

The indexes are built inside the migration's transaction (writes to these tables wait while they build: about a
second per 100k orders, measured in bench/RESULTS.md).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 04:20:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

TRIGRAM = (
    ("ix_customers_display_name_trgm", "customers", "display_name"),
    ("ix_items_target_trgm", "payment_items", "target"),
)


def _trigrams_available() -> bool:
    """CREATE EXTENSION IF NOT EXISTS pg_trgm, in a savepoint: a build without it (or a role that may not create
    it) leaves the rest of the migration's transaction usable."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        log.warning(
            "pg_trgm is not available (%s): the order search's trigram indexes (customer names, numbers) are "
            "not created; searching part of a name or number reads those tables in full",
            reason,
        )
        return False
    return True


def upgrade() -> None:
    op.create_index("ix_payments_ecpay_trade_no", "payments", ["ecpay_trade_no"])
    op.create_index("ix_attempts_supplier_txn_id", "item_attempts", ["supplier_txn_id"])
    if _trigrams_available():
        for name, table, column in TRIGRAM:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    for name, _table, _column in TRIGRAM:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_attempts_supplier_txn_id", table_name="item_attempts")
    op.drop_index("ix_payments_ecpay_trade_no", table_name="payments")
