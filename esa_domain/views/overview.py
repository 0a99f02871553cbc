"""The overview: orders, paid volume, success rate, margin, supplier health per period; daily series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session, col

from esa_domain.core.states import ATTEMPT_LIVE, PAYMENT, AttemptState, PaymentStatus
from esa_domain.models import ItemAttempt, Payment, Supplier
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.views.orders import TAIPEI
from esa_domain.views.stuck import stuck_payments

P = PaymentStatus


def _after(status: PaymentStatus) -> list[PaymentStatus]:
    """Every payment status reachable from `status` in the table (not `status` itself), in the table's order."""
    seen: set[PaymentStatus] = set()
    todo = [status]
    while todo:
        for nxt in PAYMENT.transitions[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return [s for s in PaymentStatus if s in seen and s != status]


_FINISHED = _after(P.PAID)  # money taken and fulfillment over: delivered, partly, not, or refunded
_PAID = [P.PAID, *_FINISHED]  # money taken


@dataclass(frozen=True)
class Kpis:
    orders: int
    paid: int
    paid_volume_twd: int
    success_rate_pct: Decimal | None  # delivered in full / finished; None when nothing finished yet
    margin_twd: Decimal  # revenue minus quoted cost, over fully delivered orders
    margin_pct: Decimal | None


@dataclass(frozen=True)
class DayPoint:
    day: date
    orders: int
    paid_volume_twd: int
    succeeded: int
    margin_twd: Decimal


@dataclass(frozen=True)
class SupplierHealth:
    code: str
    name: str
    attempts: int
    succeeded: int
    failed: int
    pending: int
    success_rate_pct: Decimal | None
    avg_latency_ms: int | None


def period_start(now: datetime, days: int) -> datetime:
    """Midnight in Taipei `days - 1` days before today: days=1 is today, days=7 the last seven days."""
    today = now.astimezone(TAIPEI).date()
    return datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=TAIPEI)


def _pct(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def kpis(session: Session, *, since: datetime, until: datetime) -> Kpis:
    """Orders created in [since, until) (scanned through ix_payments_created)."""
    paid = col(Payment.status).in_(_PAID)
    ok = col(Payment.status) == P.SUCCESS
    r = session.execute(
        select(
            func.count(),
            func.count().filter(paid),
            func.coalesce(func.sum(Payment.amount_twd).filter(paid), 0),
            func.count().filter(ok),
            func.count().filter(col(Payment.status).in_(_FINISHED)),
            func.coalesce(func.sum(Payment.amount_twd).filter(ok), 0),
            func.coalesce(func.sum(Payment.cost_twd).filter(ok), 0),
        ).where(col(Payment.created_at) >= since, col(Payment.created_at) < until)
    ).one()
    orders, n_paid, volume, n_ok, n_finished, revenue, cost = r
    margin = Decimal(revenue) - Decimal(cost)
    return Kpis(
        orders,
        n_paid,
        int(volume),
        _pct(n_ok, n_finished),
        margin.quantize(Decimal("0.01")),
        _pct(margin, revenue),
    )


def daily_series(session: Session, *, now: datetime, days: int = 14) -> list[DayPoint]:
    """One point per Taipei day for the last `days` days, including empty days."""
    since = period_start(now, days)
    day = func.date(func.timezone("Asia/Taipei", Payment.created_at))
    paid = col(Payment.status).in_(_PAID)
    ok = col(Payment.status) == P.SUCCESS
    rows = session.execute(
        select(
            day,
            func.count(),
            func.coalesce(func.sum(Payment.amount_twd).filter(paid), 0),
            func.count().filter(ok),
            func.coalesce(func.sum(Payment.amount_twd - Payment.cost_twd).filter(ok), 0),
        )
        .where(col(Payment.created_at) >= since)
        .group_by(day)
    ).all()
    by_day = {r[0]: r for r in rows}
    start = since.date()
    out = []
    for i in range(days):
        d = start + timedelta(days=i)
        r = by_day.get(d)
        out.append(
            DayPoint(d, r[1], int(r[2]), r[3], Decimal(r[4]).quantize(Decimal("0.01")))
            if r
            else DayPoint(d, 0, 0, 0, Decimal("0.00"))
        )
    return out


def supplier_health(session: Session, *, since: datetime) -> list[SupplierHealth]:
    """Attempts per supplier started since `since` (needs ix_item_attempts_created; see the report)."""
    a = ItemAttempt
    rows = session.execute(
        select(
            Supplier.code,
            Supplier.name,
            func.count(a.id),
            func.count(a.id).filter(col(a.state) == AttemptState.SUCCESS),
            func.count(a.id).filter(col(a.state) == AttemptState.FAILED),
            func.count(a.id).filter(col(a.state).in_(ATTEMPT_LIVE)),
            func.avg(a.latency_ms),
        )
        .select_from(Supplier)
        .outerjoin(a, (col(a.supplier_id) == col(Supplier.id)) & (col(a.created_at) >= since))
        .group_by(Supplier.id, Supplier.code, Supplier.name)
        .order_by(Supplier.code)
    ).all()
    return [
        SupplierHealth(
            code, name, n, ok, bad, pend, _pct(ok, ok + bad), int(lat) if lat is not None else None
        )
        for code, name, n, ok, bad, pend, lat in rows
    ]


def stuck_count(session: Session, *, now: datetime, policy: ReconcilePolicy, limit: int = 200) -> int:
    """The overview's "stuck payments" figure: the rows the Stuck page lists (the stuck table's, up to `limit`)."""
    return len(stuck_payments(session, now=now, policy=policy, limit=limit))
