"""The 10-minute reconciliation: heal what webhooks and crashed workers left behind, then alert on the rest.

1. PENDING payments past ECPay's query window: QueryTradeInfo through the notification path, or expire.
2. PAID payments whose items are not moving: PENDING items re-dispatched; PROCESSING items whose worker died
   (no progress for `stall_after`) are parked as SUPPLIER_PENDING with their live attempt UNKNOWN, so the next
   step is a status check with the same reference, never a second purchase.
3. SUPPLIER_PENDING items whose scheduled check is overdue (the message was lost): checked again; WAITING
   items (held back by an open breaker or a low deposit) whose wake-up is overdue: taken up again.
3b. Refunds: a FAILED or PARTIAL payment with no refund gets one; a lost send_refund is sent again; a SENT
   refund unanswered past its grace is resumed after asking ECPay (esa_domain.payments.refunds).
4. What is still stuck past its threshold (the table in esa_domain.operations.stuck): one LINE alert per order
   and condition.
Each run is recorded in job_runs with what it found, healed, expired and alerted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from esa_domain.adapters.ecpay import EcpayClient
from esa_domain.core.states import ATTEMPT, AttemptState, ItemStatus, PaymentStatus
from esa_domain.core.transitions import move, transition_item
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, JobRun, Payment, PaymentItem
from esa_domain.operations.alerts import raise_alert
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.operations.stuck import STUCK, per_order
from esa_domain.payments.accept import EcpayConfig, Verdict, check_payment

log = logging.getLogger(__name__)


# the request in flight when the worker died may have been delivered: its attempt's outcome is unknown
_SENT = move(
    ATTEMPT,
    to=AttemptState.UNKNOWN,
    from_=[AttemptState.SENDING],
    lock=False,
    where="t.item_id = :id",
    sets=", next_check_at = :now",
)
_SENT_UNANSWERED = text(f"WITH {_SENT} SELECT count(*) FROM moved")  # noqa: S608 (from the lifecycle table)


def reconcile(
    uow: Callable[[], UnitOfWork],
    ecpay: EcpayConfig,
    client: EcpayClient,
    *,
    now: datetime | None = None,
    policy: ReconcilePolicy | None = None,
) -> dict[str, int]:
    now = now or datetime.now(UTC)
    policy = policy or ReconcilePolicy()
    with uow() as u:
        # a run whose worker was killed never finishes: say so instead of leaving it "running" forever
        u.session.execute(
            text(
                "UPDATE job_runs SET status = 'abandoned', finished_at = now(), "
                "error = 'the worker running it stopped before it finished' "
                "WHERE kind = 'reconcile' AND status = 'running' AND started_at < :cutoff"
            ),
            {"cutoff": now - policy.abandon_after},
        )
        run = JobRun(kind="reconcile", started_at=now)
        u.session.add(run)
        u.commit()
        run_id = run.id
    counts: Counter[str] = Counter()
    try:
        _payments(uow, ecpay, client, now, policy, counts)
        _items(uow, now, policy, counts)
        _refunds(uow, ecpay, client, now, policy, counts)
        _invoices(uow, now, policy, counts)
        _alerts(uow, ecpay.public_url, now, policy, counts)
    except Exception as exc:
        _finish(uow, run_id, "failed", counts, f"{type(exc).__name__}: {exc}"[:500])  # type: ignore[arg-type]
        raise
    _finish(uow, run_id, "ok", counts, None)  # type: ignore[arg-type]
    return dict(counts)


def _finish(uow, run_id: int, status: str, counts: Counter[str], error: str | None) -> None:  # type: ignore[no-untyped-def]
    with uow() as u:
        run = u.session.get(JobRun, run_id)
        run.status, run.summary, run.error, run.finished_at = status, dict(counts), error, datetime.now(UTC)
        u.commit()


def _payments(uow, ecpay, client, now, policy, counts) -> None:  # type: ignore[no-untyped-def]
    with uow() as u:
        ids = u.session.exec(
            select(Payment.id)
            .where(Payment.status == PaymentStatus.PENDING, Payment.created_at < now - policy.query_after)
            .where((col(Payment.next_query_at).is_(None)) | (col(Payment.next_query_at) <= now))
            .order_by(col(Payment.created_at))
            .limit(policy.batch)
        ).all()
    counts["pending_found"] += len(ids)
    for pid in ids:
        verdict = check_payment(uow, pid, ecpay, client, now=now)
        if verdict is Verdict.ACCEPTED:
            counts["payments_healed"] += 1
        elif verdict is Verdict.EXPIRED:
            counts["payments_expired"] += 1


def _items(uow, now: datetime, policy: ReconcilePolicy, counts: Counter[str]) -> None:  # type: ignore[no-untyped-def]
    with uow() as u:
        s = u.session
        lost = s.exec(
            select(PaymentItem.id)
            .join(Payment, col(Payment.id) == col(PaymentItem.payment_id))
            .where(PaymentItem.status == ItemStatus.PENDING, Payment.status == PaymentStatus.PAID)
            .where(col(Payment.paid_at) < now - policy.redispatch_after)
            .limit(policy.batch)
        ).all()
        for item_id in lost:
            outbox.record(s, topics.FULFILL_ITEM, {"item_id": item_id})
        counts["items_redispatched"] += len(lost)
        stalled = s.exec(
            select(PaymentItem.id)
            .where(
                PaymentItem.status == ItemStatus.PROCESSING,
                col(PaymentItem.updated_at) < now - policy.stall_after,
            )
            .limit(policy.batch)
        ).all()
        for item_id in stalled:
            r = transition_item(
                s,
                item_id,
                ItemStatus.SUPPLIER_PENDING,
                from_={ItemStatus.PROCESSING},
                actor="system:reconciler",
                cause="no progress: the worker holding it is gone; checking the supplier before anything else",
                values={"next_check_at": now},
            )
            if r.applied:
                # whatever was in flight may have been delivered: only a status check may tell
                s.execute(_SENT_UNANSWERED, {"id": item_id, "now": now})
                outbox.record(s, topics.FULFILL_ITEM, {"item_id": item_id})
                counts["items_recovered"] += 1
        overdue = s.exec(
            select(PaymentItem.id)
            .where(
                # SUPPLIER_PENDING: a status check; WAITING: a look at the held-back suppliers again
                col(PaymentItem.status).in_([ItemStatus.SUPPLIER_PENDING, ItemStatus.WAITING]),
                col(PaymentItem.next_check_at) < now - policy.overdue_check,
            )
            .limit(policy.batch)
        ).all()
        for item_id in overdue:
            outbox.record(s, topics.FULFILL_ITEM, {"item_id": item_id})
        counts["checks_redispatched"] += len(overdue)
        u.commit()


def _refunds(uow, ecpay, client, now, policy, counts) -> None:  # type: ignore[no-untyped-def]
    """Refunds that stopped moving: a FAILED or PARTIAL payment whose refund message was lost gets its refund;
    a REQUESTED card refund whose message was lost is sent again; a SENT refund unanswered past the grace (its
    worker died, or the answer was lost) is resumed after asking ECPay what happened to it."""
    from esa_domain.payments import refunds

    with uow() as u:
        missing = refunds.payments_without_refund(
            u.session, older_than=now - policy.redispatch_after, limit=policy.batch
        )
        lost = refunds.refunds_requested_before(
            u.session, older_than=now - policy.redispatch_after, limit=policy.batch
        )
        for refund_id in lost:
            outbox.record(u.session, topics.SEND_REFUND, {"refund_id": refund_id})
        u.commit()
    counts["refunds_redispatched"] += len(lost)
    for pid in missing:
        try:
            refunds.refund_payment(uow, pid, ecpay)
            counts["refunds_started"] += 1
        except refunds.RefundRefused as exc:  # listed on the stuck page (refund_missing) and alerted there
            log.warning("refund of payment %s not started: %s", pid, exc)
    with uow() as u:
        stale = refunds.refunds_sent_before(
            u.session, older_than=now - policy.refund_resume_after, limit=policy.batch
        )
    for refund_id in stale:
        status = refunds.send_refund(
            uow, refund_id, ecpay, client, now=now, resume_after=policy.refund_resume_after
        )
        counts["refunds_resumed"] += 1
        counts["refunds_confirmed"] += status == "CONFIRMED"


def _invoices(uow, now: datetime, policy: ReconcilePolicy, counts: Counter[str]) -> None:  # type: ignore[no-untyped-def]
    """E-invoices and their adjustments left unsent (a lost message, a worker killed between its request and
    its commit): queued again in resume mode, so ECPay is asked (GetIssue) before anything is sent."""
    from esa_domain.invoicing.issuing import redispatch_lagging

    with uow() as u:
        older_than = now - policy.redispatch_after
        invoices, adjustments = redispatch_lagging(u.session, older_than=older_than, limit=policy.batch)
        u.commit()
    counts["invoices_redispatched"] += invoices
    counts["invoice_adjustments_redispatched"] += adjustments


def _alerts(uow, public_url: str, now: datetime, policy: ReconcilePolicy, counts: Counter[str]) -> None:  # type: ignore[no-untyped-def]
    """One alert per order and condition of the stuck table (esa_domain.operations.stuck) past its threshold."""
    with uow() as u:
        s = u.session
        for condition in STUCK:
            found = list(per_order(condition.stuck(s, policy, now, policy.batch)))
            told = _alerted_already(s, condition.alerted_as, [f.payment_id for f in found])
            for row in found:
                if row.payment_id in told:
                    continue
                title, body = condition.alert_for(row, now)
                alert = raise_alert(
                    s,
                    condition=condition.name,
                    payment_id=row.payment_id,
                    public_url=public_url,
                    title=title,
                    body=body,
                )
                if alert is not None:
                    counts["alerts_raised"] += 1
        u.commit()


def _alerted_already(session: Session, conditions: tuple[str, ...], payment_ids: list[int]) -> set[int]:
    if not conditions or not payment_ids:
        return set()
    return set(
        session.exec(
            select(Alert.payment_id)
            .where(col(Alert.payment_id).in_(payment_ids), col(Alert.condition).in_(conditions))
            .distinct()
        ).all()
    )
