"""refunds as their own lifecycle (issue 21)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401

from alembic import op  # noqa: F401

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # placeholder in the chain, filled by the work it names (or removed if that work needs no schema)


def downgrade() -> None:
    pass
