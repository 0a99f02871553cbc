"""The alerts list, newest first, paged by id (the primary key), with who acknowledged each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from esa_domain.models import Alert, AlertAck, Operator


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
    acked_by: str | None = None  # the operator who acknowledged it (None: not acknowledged)
    acked_at: datetime | None = None
    ack_note: str | None = None


def alerts(
    session: Session, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[AlertRow], int | None]:
    """A page of alerts and the `before_id` of the next page (None on the last)."""
    stmt = (
        select(Alert, AlertAck.acknowledged_at, AlertAck.note, Operator.username)
        .outerjoin(AlertAck, col(AlertAck.alert_id) == col(Alert.id))
        .outerjoin(Operator, col(Operator.id) == col(AlertAck.operator_id))
        .order_by(col(Alert.id).desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        stmt = stmt.where(col(Alert.id) < before_id)
    rows = list(session.execute(stmt).all())
    page = rows[:limit]
    out = [
        AlertRow(
            a.id, a.payment_id, a.condition, a.title, a.body, a.status, a.created_at, a.sent_at, a.error,
            (who or "someone") if acked_at else None, acked_at, note,
        )
        for a, acked_at, note, who in page
    ]  # fmt: skip
    return out, (page[-1][0].id if len(rows) > limit else None)
