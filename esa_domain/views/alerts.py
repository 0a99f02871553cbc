"""The alerts list, newest first, paged by id (the primary key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from esa_domain.models import Alert


@dataclass(frozen=True)
class AlertRow:
    id: int
    payment_id: int | None
    condition: str
    title: str
    body: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    error: str | None


def alerts(
    session: Session, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[AlertRow], int | None]:
    """A page of alerts and the `before_id` of the next page (None on the last)."""
    stmt = select(Alert).order_by(col(Alert.id).desc()).limit(limit + 1)
    if before_id is not None:
        stmt = stmt.where(col(Alert.id) < before_id)
    rows = list(session.execute(stmt).scalars())
    page = rows[:limit]
    out = [
        AlertRow(a.id, a.payment_id, a.condition, a.title, a.body, a.status, a.created_at, a.sent_at, a.error)
        for a in page
    ]
    return out, (page[-1].id if len(rows) > limit else None)
