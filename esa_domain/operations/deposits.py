"""Supplier deposits: balances read on a schedule and from purchase answers, kept as a history; the
low-balance alert with its forecast; and `deposit_can_cover`, which routing asks before choosing a supplier.

A supplier is paid from a deposit we top up. An empty deposit shows up as configuration failures, then
fallbacks, then refunds; reading the balance lets an operator top up before that, and lets routing move on
without counting the supplier against its breaker.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import SupplierAdapter
from esa_domain.models import Supplier, SupplierBalance, SupplierExchange
from esa_domain.operations.alerts import raise_alert

if TYPE_CHECKING:
    from esa_domain.infra.db import UnitOfWork

log = logging.getLogger(__name__)


def latest_balance(session: Session, supplier_id: int) -> SupplierBalance | None:
    """The most recent reading of a supplier's deposit, or None when it was never read."""
    return session.execute(
        select(SupplierBalance)
        .where(SupplierBalance.supplier_id == supplier_id)
        .order_by(SupplierBalance.observed_at.desc(), SupplierBalance.id.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).scalar_one_or_none()


def deposit_can_cover(session: Session, supplier_id: int, cost_idr: int) -> bool:
    """Whether the supplier's latest known deposit covers `cost_idr` (True when its balance is unknown).

    Based on the latest reading in the history (a poll or a purchase answer that reported the balance); a
    supplier never read is given the benefit of the doubt, so a missing poll never stops deliveries.
    """
    reading = latest_balance(session, supplier_id)
    if reading is None:
        return True
    return reading.balance_idr >= cost_idr


# -- recording ------------------------------------------------------------------------------------------------

UowFactory = Callable[[], "UnitOfWork"]
LOW_DEPOSIT = "deposit_low"


def record_balance(
    session: Session,
    supplier_id: int,
    balance_idr: int,
    *,
    source: str,
    observed_at: datetime | None = None,
    attempt_id: int | None = None,
    exchange_id: int | None = None,
) -> SupplierBalance:
    """Add one reading to the history and mirror the newest on the supplier row (the dashboard's column)."""
    if isinstance(balance_idr, bool) or not isinstance(balance_idr, int):
        raise ValueError(f"a deposit balance is a whole number of rupiah, not {balance_idr!r}")
    when = observed_at or datetime.now(UTC)
    reading = SupplierBalance(
        supplier_id=supplier_id,
        balance_idr=balance_idr,
        source=source,
        attempt_id=attempt_id,
        exchange_id=exchange_id,
        observed_at=when,
    )
    session.add(reading)
    supplier = session.get(Supplier, supplier_id, with_for_update=True)
    if supplier is not None and (supplier.balance_checked_at is None or supplier.balance_checked_at <= when):
        supplier.balance_idr, supplier.balance_checked_at = balance_idr, when
        session.add(supplier)
    session.flush()
    return reading


# Indonesian thousands are dots; a ",00" of cents ends the amount (as the Pulsa IF adapter reads its balance)
_SALDO = re.compile(r"\bSaldo\b\D*(?P<amount>\d[\d.]*)", re.IGNORECASE)


def balance_in_answer(response: Any) -> int | None:
    """The deposit a purchase or status answer reports, if it reports one.

    IAK's prepaid answers carry `data.balance` (api.iak.id/docs/reference, "Top Up" response); OtomaX-style
    H2H lines (Pulsa IF) end with `Saldo <amount>`. The others do not report a balance in their answers.
    """
    if isinstance(response, dict):
        data = response.get("data") if isinstance(response.get("data"), dict) else response
        value = data.get("balance")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return None
    if isinstance(response, str):
        match = _SALDO.search(response)
        if match:
            digits = match.group("amount").rstrip(".").replace(".", "")
            return int(digits) if digits.isdigit() else None
    return None


def harvest_answers(session: Session, *, since: timedelta = timedelta(days=2)) -> int:
    """Record the balance reported by every purchase/status answer not yet read (each answer once)."""
    cutoff = datetime.now(UTC) - since
    done = select(SupplierBalance.exchange_id).where(SupplierBalance.exchange_id.is_not(None))  # type: ignore[union-attr]
    rows = session.execute(
        select(
            SupplierExchange.id,
            SupplierExchange.supplier_id,
            SupplierExchange.attempt_id,
            SupplierExchange.response_json,
            SupplierExchange.created_at,
        )
        .where(
            SupplierExchange.operation.in_(("purchase", "status")),  # type: ignore[attr-defined]
            SupplierExchange.created_at >= cutoff,
            SupplierExchange.id.not_in(done),  # type: ignore[union-attr]
        )
        .order_by(SupplierExchange.id)
    ).all()
    count = 0
    for ex_id, supplier_id, attempt_id, response, created in rows:
        value = balance_in_answer(response)
        if value is None:
            continue
        record_balance(
            session, supplier_id, value, source="purchase", observed_at=created,
            attempt_id=attempt_id, exchange_id=ex_id,
        )  # fmt: skip
        count += 1
    return count


# -- the forecast and the alert ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositPolicy:
    low_idr: int  # below this the deposit is low whatever the rate
    low_hours: int  # ... or when the forecast says it runs out within this many hours
    topup_hours: int  # the top-up suggested covers this many hours at the recent rate
    window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Forecast:
    balance_idr: int
    burn_idr: int  # spent over the window (drops between readings; top-ups are not spending)
    window_hours: Decimal  # the part of the window the readings cover
    hours_left: Decimal | None  # None: nothing was spent
    topup_idr: int

    @property
    def per_hour(self) -> Decimal:
        return Decimal(self.burn_idr) / self.window_hours if self.window_hours > 0 else Decimal(0)


def rupiah(amount: int) -> str:
    """Rp 12.500.000 (Indonesian thousands separator)."""
    return "Rp " + f"{amount:,}".replace(",", ".")


def forecast(
    session: Session, supplier_id: int, policy: DepositPolicy, now: datetime | None = None
) -> Forecast | None:
    """The recent burn rate from the readings of the last window, and how long the latest balance lasts."""
    now = now or datetime.now(UTC)
    latest = latest_balance(session, supplier_id)
    if latest is None:
        return None
    start = now - policy.window
    before = session.execute(
        select(SupplierBalance)
        .where(SupplierBalance.supplier_id == supplier_id, SupplierBalance.observed_at < start)
        .order_by(SupplierBalance.observed_at.desc(), SupplierBalance.id.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).scalar_one_or_none()
    readings = list(
        session.execute(
            select(SupplierBalance)
            .where(SupplierBalance.supplier_id == supplier_id, SupplierBalance.observed_at >= start)
            .order_by(SupplierBalance.observed_at, SupplierBalance.id)
        ).scalars()
    )
    series = ([before] if before is not None else []) + readings
    burn = sum(max(0, a.balance_idr - b.balance_idr) for a, b in itertools.pairwise(series))
    first_at = start if before is not None else series[0].observed_at
    hours = Decimal(max((now - first_at).total_seconds(), 60)) / 3600
    balance = latest.balance_idr
    per_hour = Decimal(burn) / hours if burn else Decimal(0)
    hours_left = (Decimal(balance) / per_hour) if per_hour > 0 else None
    wanted = int(per_hour * policy.topup_hours) if per_hour > 0 else 0
    topup = max(wanted - balance, policy.low_idr - balance, 0)
    topup = -(-topup // 100_000) * 100_000  # round up to Rp 100.000
    return Forecast(balance, burn, hours.quantize(Decimal("0.01")), hours_left, topup)


def _is_low(f: Forecast, policy: DepositPolicy) -> bool:
    return f.balance_idr < policy.low_idr or (f.hours_left is not None and f.hours_left < policy.low_hours)


def describe(name: str, f: Forecast, policy: DepositPolicy) -> str:
    """The alert text: "IAK runs out in about 3 h at the last 24 h's rate: top up Rp 12.500.000" (or why it is low)."""
    window_h = int(policy.window.total_seconds() // 3600)
    top_up = f"top up {rupiah(f.topup_idr)}" if f.topup_idr else "top up soon"
    if f.hours_left is not None:
        left = max(int(f.hours_left.to_integral_value(ROUND_HALF_UP)), 0)
        when = "in less than an hour" if left < 1 else f"in about {left} h"
        return (
            f"{name} runs out {when} at the last {window_h} h's rate "
            f"({rupiah(f.balance_idr)} left, {rupiah(int(f.per_hour))}/h): {top_up}"
        )
    return (
        f"{name}'s deposit is {rupiah(f.balance_idr)}, under the {rupiah(policy.low_idr)} minimum "
        f"(nothing spent in the last {window_h} h): {top_up}"
    )


def _episode(session: Session, supplier_id: int) -> int:
    """The id of the latest top-up reading (a balance higher than the one before): one alert per episode."""
    row = session.execute(
        text(
            "SELECT max(id) FROM (SELECT id, balance_idr, lag(balance_idr) OVER (ORDER BY observed_at, id) AS prev"
            " FROM supplier_balances WHERE supplier_id = :s) r WHERE prev IS NOT NULL AND balance_idr > prev"
        ),
        {"s": supplier_id},
    ).scalar_one_or_none()
    return int(row or 0)


def check_low(
    session: Session, policy: DepositPolicy, public_url: str, now: datetime | None = None
) -> list[int]:
    """Raise the low-deposit alert for each supplier now low; once per episode (a top-up re-arms it)."""
    raised: list[int] = []
    for supplier in session.execute(select(Supplier).order_by(Supplier.id)).scalars():
        f = forecast(session, supplier.id, policy, now)
        if f is None or not _is_low(f, policy):
            continue
        alert_id = raise_alert(
            session,
            condition=LOW_DEPOSIT,
            title=f"{supplier.name} deposit low: {rupiah(f.balance_idr)}",
            body=describe(supplier.name, f, policy),
            public_url=public_url,
            dedupe_key=f"{LOW_DEPOSIT}:supplier:{supplier.id}:{_episode(session, supplier.id)}",
        )
        if alert_id is not None:
            raised.append(alert_id)
    return raised


# -- the scheduled poll -----------------------------------------------------------------------------------------


def poll_balances(
    uow_factory: UowFactory,
    adapters: Mapping[str, SupplierAdapter],
    policy: DepositPolicy,
    public_url: str,
) -> dict[str, Any]:
    """Ask every supplier for its balance, read the answers that reported one, then check for low deposits.

    One supplier's failure is recorded and does not stop the others.
    """
    polled: dict[str, Any] = {}
    for code, adapter in adapters.items():
        try:
            result = adapter.balance()
        except Exception as exc:  # any adapter failure: noted in the summary, the others still polled
            polled[code] = f"failed: {type(exc).__name__}: {exc}"[:200]
            log.warning("balance of %s unavailable: %s", code, exc)
            continue
        with uow_factory() as uow:
            supplier = uow.session.execute(select(Supplier).where(Supplier.code == code)).scalars().first()
            if supplier is None:
                continue
            for ex in result.exchanges:
                uow.session.add(
                    SupplierExchange(
                        supplier_id=supplier.id, operation=ex.operation[:20], method=ex.method[:8],
                        url=ex.url[:500], request_json=ex.request, response_json=ex.response,
                        http_status=ex.http_status, latency_ms=ex.latency_ms,
                        error=ex.error[:300] if ex.error else None,
                    )
                )  # fmt: skip
            record_balance(uow.session, supplier.id, result.balance_idr, source="poll")
            uow.commit()
        polled[code] = result.balance_idr
    with uow_factory() as uow:
        harvested = harvest_answers(uow.session)
        alerts = check_low(uow.session, policy, public_url)
        uow.commit()
    return {"balances": polled, "from_answers": harvested, "alerts": len(alerts)}


def policy_from(settings: Any) -> DepositPolicy:
    """The deposit policy from the settings (ESA_DEPOSIT_LOW_IDR, ESA_DEPOSIT_LOW_HOURS, ESA_DEPOSIT_TOPUP_HOURS)."""
    return DepositPolicy(
        low_idr=settings.deposit_low_idr,
        low_hours=settings.deposit_low_hours,
        topup_hours=settings.deposit_topup_hours,
    )


# -- reading it back (the dashboard) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BalancePoint:
    supplier_code: str
    observed_at: datetime
    balance_idr: int
    source: str


def balance_history(
    session: Session, *, since: timedelta = timedelta(days=7), limit: int = 2000
) -> list[BalancePoint]:
    """Every supplier's readings since `since` ago, oldest first (the dashboard's balance chart)."""
    rows = session.execute(
        select(
            Supplier.code, SupplierBalance.observed_at, SupplierBalance.balance_idr, SupplierBalance.source
        )
        .join(Supplier, Supplier.id == SupplierBalance.supplier_id)
        .where(SupplierBalance.observed_at >= datetime.now(UTC) - since)
        .order_by(SupplierBalance.observed_at.desc(), SupplierBalance.id.desc())  # type: ignore[attr-defined]
        .limit(limit)
    ).all()
    return [BalancePoint(*r) for r in reversed(rows)]


def runs_out(session: Session, supplier_id: int, policy: DepositPolicy) -> str:
    """How long the deposit lasts at the recent rate ("about 3 h", "not spending"; "" when never read)."""
    f = forecast(session, supplier_id, policy)
    if f is None:
        return ""
    if f.hours_left is None:
        return "not spending"
    left = int(f.hours_left)
    return "within the hour" if left < 1 else (f"about {left} h" if left < 72 else f"about {left // 24} days")
