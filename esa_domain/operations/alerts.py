"""Operator alerts: raised once per (order, condition), sent to LINE after commit through the outbox."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from esa_domain.infra import outbox, topics
from esa_domain.models import Alert, AlertAck, Operator
from esa_domain.operations.links import order_url
from esa_domain.operations.operators import record_action, require_role


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


class AlertNotFound(LookupError):
    """No alert with that id."""


class AlertNotResendable(ValueError):
    """The alert was delivered: sending it again would message the operators twice."""


def resend_alert(session: Session, alert_id: int, operator: Operator | None) -> Alert:
    """Queue a failed (or still undelivered) alert for delivery again, audited; a sent one is refused.

    Needs the operator role (NotAllowed, a PermissionError, otherwise).
    The alert keeps its LINE retry key: if an earlier try did reach LINE after all, LINE answers 409 and the
    alert is marked sent without a second message.
    """
    who = require_role(operator, "operator")
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} does not exist")
    if alert.status == "sent":
        raise AlertNotResendable(f"alert {alert_id} was already delivered to LINE; it is not sent twice")
    previous = alert.error
    alert.status, alert.error = "queued", None
    session.add(alert)
    outbox.record(session, topics.SEND_ALERT, {"alert_id": alert_id})
    record_action(
        session, who.id, "resend_alert", payment_id=alert.payment_id, subject=f"alert:{alert_id}",
        detail={"previous_error": previous},
    )  # fmt: skip
    return alert


def acknowledge_alert(session: Session, alert_id: int, operator: Operator | None, note: str = "") -> bool:
    """Mark an alert seen by an operator (operator role), audited; True if this call acknowledged it (False: it
    already was)."""
    who = require_role(operator, "operator")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} does not exist")
    note = " ".join(note.split())[:300] or None
    done = session.execute(
        insert(AlertAck)
        .values(alert_id=alert_id, operator_id=who.id, note=note)
        .on_conflict_do_nothing(index_elements=["alert_id"])
        .returning(AlertAck.id)
    ).scalar_one_or_none()
    if done is not None:
        record_action(
            session, who.id, "acknowledge_alert", payment_id=alert.payment_id, subject=f"alert:{alert_id}",
            reason=note,
        )  # fmt: skip
    return done is not None
