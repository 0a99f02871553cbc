"""outbox: index the sweeper's scans, including delayed rows parked until they come due

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["available_at", "created_at"],
        unique=False,
        postgresql_where=sa.text("dispatched_at IS NULL"),
    )
    op.drop_index(
        "ix_outbox_undispatched", table_name="outbox", postgresql_where=sa.text("dispatched_at IS NULL")
    )


def downgrade() -> None:
    op.create_index(
        "ix_outbox_undispatched",
        "outbox",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("dispatched_at IS NULL"),
    )
    op.drop_index("ix_outbox_due", table_name="outbox", postgresql_where=sa.text("dispatched_at IS NULL"))
