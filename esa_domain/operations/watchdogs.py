"""Watchdogs: who watches the safety net.

Every scheduled job records its runs (job_runs). `watch()` raises an alert, once per occurrence, when:
- a job missed two of its intervals (no run started since; checked by any surviving process, not only the
  scheduler: every worker process runs `watch()` on a timer thread too, see workers/context.py);
- a job run failed (catalog sync, FX refresh, deposit poll, the daily close, ...);
- the newest FX rate is close to its maximum age (before quotes are refused), and again once it is past it;
- a supplier reversed a transaction after SUCCESS (a signed FAILED callback for an attempt that succeeded,
  recorded by the callback handler as "ignored: attempt already SUCCESS");
- an e-invoice ECPay refused, or one not issued `invoice_lag` after its payment settled; the same for an
  invoice allowance or invalidation (esa_domain.invoicing.issuing.check_invoices).

The alerts' dedupe keys name the occurrence (the last run seen, the failed run, the rate, the attempt), so a
condition is alerted once however many processes look, and alerted again only when it happens again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text
from sqlmodel import Session

from esa_domain.invoicing.issuing import check_invoices
from esa_domain.models import FxRate, ItemAttempt, JobRun, PaymentItem, Supplier, SupplierExchange
from esa_domain.operations.alerts import raise_alert

if TYPE_CHECKING:
    from esa_domain.infra.db import UnitOfWork
    from esa_domain.infra.settings import Settings

log = logging.getLogger(__name__)

UowFactory = Callable[[], "UnitOfWork"]

# job kinds recorded in job_runs
RECONCILE = "reconcile"
OUTBOX_SWEEP = "outbox_sweep"
DEPOSIT_POLL = "deposit_poll"
FX_REFRESH = "fx_refresh"
DAILY_CLOSE = "daily_close"
CATALOG_SYNC = "catalog_sync:"  # + supplier code

JOB_MISSED = "job_missed"
JOB_FAILED = "job_failed"
FX_AGING = "fx_aging"
FX_EXPIRED = "fx_expired"
SUPPLIER_REVERSAL = "supplier_reversal"
REVERSED = "ignored: attempt already SUCCESS"  # the callback verdict of a FAILED after a SUCCESS


@dataclass(frozen=True)
class WatchPolicy:
    jobs: Mapping[str, timedelta]  # kind -> how often it runs
    fx_max_age: timedelta
    fx_warn_before: timedelta
    grace: timedelta = timedelta(minutes=1)  # a tick may start a little late
    failed_lookback: timedelta = timedelta(days=2)
    reversal_lookback: timedelta = timedelta(days=2)
    fx_pair: str = "IDR/TWD"
    invoice_lag: timedelta = timedelta(minutes=30)  # an e-invoice not issued (or adjusted) this long: alerted


def job_intervals(settings: Settings, supplier_codes: list[str]) -> dict[str, timedelta]:
    """Every scheduled job and its interval, as workers/schedules.py runs them."""
    jobs = {
        RECONCILE: timedelta(minutes=settings.reconcile_every_minutes),
        OUTBOX_SWEEP: timedelta(minutes=1),
        DEPOSIT_POLL: timedelta(minutes=settings.deposit_poll_minutes),
        DAILY_CLOSE: timedelta(days=1),
    }
    if settings.fx_source_url:
        jobs[FX_REFRESH] = timedelta(hours=1)
    for code in supplier_codes:
        jobs[f"{CATALOG_SYNC}{code}"[:40]] = timedelta(hours=12)
    return jobs


def policy_from(settings: Settings, supplier_codes: list[str]) -> WatchPolicy:
    return WatchPolicy(
        jobs=job_intervals(settings, supplier_codes),
        fx_max_age=timedelta(minutes=settings.fx_max_age_minutes),
        fx_warn_before=timedelta(minutes=settings.fx_warn_before_minutes),
        invoice_lag=timedelta(minutes=settings.invoice_lag_alert_minutes),
    )


@contextmanager
def job_run(uow_factory: UowFactory, kind: str) -> Iterator[dict[str, Any]]:
    """Record one run of a scheduled job: yields a summary dict to fill; a raised exception marks it failed."""
    with uow_factory() as uow:
        run = JobRun(kind=kind[:40], started_at=datetime.now(UTC), status="running")
        uow.session.add(run)
        uow.commit()
        run_id = run.id
    summary: dict[str, Any] = {}
    try:
        yield summary
    except BaseException as exc:
        _finish(uow_factory, run_id, "failed", summary, f"{type(exc).__name__}: {exc}")  # type: ignore[arg-type]
        raise
    _finish(uow_factory, run_id, "ok", summary, None)  # type: ignore[arg-type]


def _finish(uow_factory: UowFactory, run_id: int, status: str, summary: dict, error: str | None) -> None:
    with uow_factory() as uow:
        run = uow.session.get(JobRun, run_id)
        assert run is not None
        run.status, run.finished_at = status, datetime.now(UTC)
        run.summary = summary or None
        run.error = error[:500] if error else None
        uow.commit()


def _label(kind: str) -> str:
    if kind.startswith(CATALOG_SYNC):
        return f"The catalog sync of {kind[len(CATALOG_SYNC) :]}"
    return {
        RECONCILE: "Reconciliation",
        OUTBOX_SWEEP: "The outbox sweep",
        DEPOSIT_POLL: "The deposit poll",
        FX_REFRESH: "The FX refresh",
        DAILY_CLOSE: "The daily close",
    }.get(kind, f"The job {kind}")


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def check_missed(session: Session, policy: WatchPolicy, public_url: str, now: datetime) -> list[int]:
    """A job with no run started for two intervals (plus a minute's grace): alerted once per last run seen."""
    raised = []
    last = dict(
        session.execute(
            select(JobRun.kind, func.max(JobRun.id))
            .where(JobRun.kind.in_(list(policy.jobs)))
            .group_by(JobRun.kind)  # type: ignore[attr-defined]
        ).all()
    )
    for kind, every in policy.jobs.items():
        run_id = last.get(kind)
        if run_id is None:
            continue  # never ran here: a fresh install, nothing to compare with
        run = session.get(JobRun, run_id)
        assert run is not None
        silent = now - run.started_at
        if silent <= 2 * every + policy.grace:
            continue
        alert_id = raise_alert(
            session,
            condition=JOB_MISSED,
            title=f"{_label(kind)} has stopped running",
            body=(
                f"{_label(kind)} runs every {_ago(every)} and last started {_ago(silent)} ago "
                f"({run.status}). Check that `esa scheduler` and the workers are up."
            ),
            public_url=public_url,
            dedupe_key=f"{JOB_MISSED}:{kind}:{run_id}",
        )
        if alert_id is not None:
            raised.append(alert_id)
    return raised


def check_failed(session: Session, policy: WatchPolicy, public_url: str, now: datetime) -> list[int]:
    """Each failed run of a scheduled job (catalog sync, FX refresh, ...) is alerted once."""
    raised = []
    runs = session.execute(
        select(JobRun)
        .where(JobRun.status.in_(("failed", "abandoned")), JobRun.started_at >= now - policy.failed_lookback)  # type: ignore[attr-defined]
        .order_by(JobRun.id)
    ).scalars()
    for run in runs:
        alert_id = raise_alert(
            session,
            condition=JOB_FAILED,
            title=f"{_label(run.kind)} failed"
            if run.status == "failed"
            else f"{_label(run.kind)} was abandoned",
            body=f"{_label(run.kind)} {run.status} at {run.started_at:%Y-%m-%d %H:%M} UTC: {run.error or 'no detail'}",
            public_url=public_url,
            dedupe_key=f"{JOB_FAILED}:{run.id}",
        )
        if alert_id is not None:
            raised.append(alert_id)
    return raised


def check_fx_age(session: Session, policy: WatchPolicy, public_url: str, now: datetime) -> list[int]:
    """The newest rate nearing its maximum age (quotes are refused past it): once before, once past it."""
    rate = session.execute(
        select(FxRate)
        .where(FxRate.pair == policy.fx_pair)
        .order_by(FxRate.fetched_at.desc(), FxRate.id.desc())
        .limit(1)  # type: ignore[attr-defined]
    ).scalar_one_or_none()
    if rate is None:
        return []
    age = now - rate.fetched_at
    refused_at = rate.fetched_at + policy.fx_max_age
    if age < policy.fx_max_age - policy.fx_warn_before:
        return []
    expired = age >= policy.fx_max_age
    if expired:
        title = f"FX rate {policy.fx_pair} too old: quotes are refused"
        body = (
            f"The newest {policy.fx_pair} rate ({rate.rate.normalize()}, {rate.source}) is {_ago(age)} old, past "
            f"the {_ago(policy.fx_max_age)} maximum: every quote is refused until a rate is fetched or set on "
            "the FX page."
        )
    else:
        title = f"FX rate {policy.fx_pair} nearly too old"
        body = (
            f"The newest {policy.fx_pair} rate ({rate.rate.normalize()}, {rate.source}) is {_ago(age)} old; quotes "
            f"are refused from {refused_at:%Y-%m-%d %H:%M} UTC (in {_ago(refused_at - now)}) unless a new rate "
            "is fetched or set on the FX page."
        )
    condition = FX_EXPIRED if expired else FX_AGING
    alert_id = raise_alert(
        session,
        condition=condition,
        title=title,
        body=body,
        public_url=public_url,
        dedupe_key=f"{condition}:{rate.id}",
    )
    return [alert_id] if alert_id is not None else []


def check_reversals(session: Session, policy: WatchPolicy, public_url: str, now: datetime) -> list[int]:
    """A supplier's signed FAILED for an attempt that had succeeded: alerted once per attempt."""
    raised = []
    rows = session.execute(
        select(SupplierExchange.attempt_id, Supplier.name, ItemAttempt.reference, PaymentItem.payment_id)
        .join(ItemAttempt, ItemAttempt.id == SupplierExchange.attempt_id)
        .join(PaymentItem, PaymentItem.id == ItemAttempt.item_id)
        .join(Supplier, Supplier.id == SupplierExchange.supplier_id)
        .where(
            SupplierExchange.operation == "callback",
            SupplierExchange.created_at >= now - policy.reversal_lookback,
            SupplierExchange.response_json["verdict"].astext == REVERSED,  # type: ignore[index]
            SupplierExchange.response_json["outcome"].astext == "FAILED",  # type: ignore[index]
        )
        .order_by(SupplierExchange.id)
    ).all()
    for attempt_id, name, reference, payment_id in rows:
        alert_id = raise_alert(
            session,
            condition=SUPPLIER_REVERSAL,
            title=f"{name} reversed a delivered transaction",
            body=(
                f"{name} reported FAILED for {reference} after it had reported SUCCESS. The customer was told "
                "it was delivered: check with the supplier whether the deposit was refunded and whether the "
                "customer got the goods."
            ),
            public_url=public_url,
            payment_id=payment_id,
            dedupe_key=f"{SUPPLIER_REVERSAL}:attempt:{attempt_id}",
        )
        if alert_id is not None:
            raised.append(alert_id)
    return raised


def watch(
    uow_factory: UowFactory, policy: WatchPolicy, public_url: str, now: datetime | None = None
) -> dict[str, int]:
    """Run every check in one transaction; returns how many alerts each raised."""
    now = now or datetime.now(UTC)
    with uow_factory() as uow:
        s = uow.session
        counts = {
            JOB_MISSED: len(check_missed(s, policy, public_url, now)),
            JOB_FAILED: len(check_failed(s, policy, public_url, now)),
            "fx": len(check_fx_age(s, policy, public_url, now)),
            SUPPLIER_REVERSAL: len(check_reversals(s, policy, public_url, now)),
            "invoices": len(check_invoices(s, policy.invoice_lag, public_url, now)),  # issue 19
        }
        # the outbox sweep records a run a minute: keep a day of its successful runs
        s.execute(
            text("DELETE FROM job_runs WHERE kind = :k AND status = 'ok' AND started_at < :cutoff"),
            {"k": OUTBOX_SWEEP, "cutoff": now - timedelta(days=1)},
        )
        uow.commit()
    return counts
