"""Operator alerts: raised once per (order, condition), sent to LINE after commit through the outbox."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from esa_domain.infra import outbox, topics
from esa_domain.models import Alert
from esa_domain.operations.links import order_url


def raise_alert(
    session: Session,
    *,
    condition: str,
    title: str,
    body: str,
    public_url: str,
    payment_id: int | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Record an alert unless this (order, condition) was alerted before; returns the new alert's id or None.

    The unique dedupe key makes "once per order and condition" hold across processes.
    """
    key = dedupe_key or f"{condition}:payment:{payment_id}"
    stmt = (
        insert(Alert)
        .values(
            dedupe_key=key[:160],
            payment_id=payment_id,
            condition=condition,
            title=title[:200],
            body=body[:1000],
            link=order_url(public_url, payment_id) if payment_id is not None else None,
            retry_key=str(uuid.uuid4()),  # LINE's X-Line-Retry-Key: one per alert, reused across retries
            status="queued",
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Alert.id)
    )
    alert_id = session.execute(stmt).scalar_one_or_none()
    if alert_id is not None:
        outbox.record(session, topics.SEND_ALERT, {"alert_id": alert_id})
    return alert_id
