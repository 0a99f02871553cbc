"""Reconciliation's timing and the stuck thresholds, in one place (built from Settings by the composition root,
esa_domain.infra.runtime; read by the reconciler, the stuck table and the schedule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ReconcilePolicy:
    """All of reconciliation's timing, in one place (built from Settings by esa_domain.infra.runtime)."""

    every: timedelta = timedelta(minutes=10)  # the schedule's tick (workers.schedules)
    time_limit: timedelta = timedelta(minutes=9)  # the actor's time limit: a run ends before the next tick
    abandon_after: timedelta = timedelta(minutes=15)  # "running" this long: past its time limit, dead
    query_after: timedelta = timedelta(minutes=10)  # ECPay: query cards about 10 minutes after checkout
    redispatch_after: timedelta = timedelta(minutes=2)  # a PAID item still PENDING this long lost its message
    stall_after: timedelta = timedelta(minutes=5)  # PROCESSING this long: its worker died
    overdue_check: timedelta = timedelta(minutes=2)  # a SUPPLIER_PENDING check this late lost its message
    # the stuck thresholds (esa_domain.operations.stuck): past them an order is listed and alerted on
    alert_paid_after: timedelta = timedelta(minutes=30)  # paid, not delivered, this long: tell a person
    alert_pending_after: timedelta = timedelta(hours=1)  # past its window and ECPay still unreachable
    alert_refund_after: timedelta = timedelta(hours=1)
    alert_review_after: timedelta = timedelta(0)  # waiting for an operator: at once
    refund_resume_after: timedelta = timedelta(minutes=5)  # a SENT refund unanswered this long: ask ECPay
    batch: int = 500
