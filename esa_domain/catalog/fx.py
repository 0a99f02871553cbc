"""IDR/TWD rates: exact decimals with their source and fetch time; a stale rate refuses quotes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, col, select

from esa_domain.core.errors import StaleRate
from esa_domain.models import FxRate

PAIR = "IDR/TWD"  # TWD per 1 IDR
_CENT = Decimal("0.0001")


def latest_rate(session: Session, pair: str = PAIR) -> FxRate | None:
    return session.exec(
        select(FxRate)
        .where(FxRate.pair == pair)
        .order_by(col(FxRate.fetched_at).desc(), col(FxRate.id).desc())
    ).first()


def usable_rate(session: Session, *, now: datetime, max_age: timedelta, pair: str = PAIR) -> FxRate:
    """The newest rate, if it is fresh enough to quote with; otherwise StaleRate (never misprice)."""
    rate = latest_rate(session, pair)
    ensure_fresh(rate.fetched_at if rate else None, now=now, max_age=max_age, pair=pair)
    assert rate is not None
    return rate


def ensure_fresh(fetched_at: datetime | None, *, now: datetime, max_age: timedelta, pair: str = PAIR) -> None:
    """StaleRate unless a rate fetched at `fetched_at` (None: no rate at all) may still be quoted with."""
    if fetched_at is None:
        raise StaleRate(f"no {pair} rate is known yet: set one in the dashboard or wait for the FX refresh")
    if now - fetched_at > max_age:
        raise StaleRate(
            f"the {pair} rate from {fetched_at:%Y-%m-%d %H:%M} UTC is older than {max_age}; "
            "new quotes are refused until the FX refresh succeeds or an admin sets a rate",
            fetched_at=fetched_at.isoformat(),
        )


def idr_to_twd(amount_idr: int, rate: Decimal) -> Decimal:
    """IDR to TWD at an exact rate, kept to 4 decimal places (costs are compared, not charged)."""
    return (Decimal(amount_idr) * rate).quantize(_CENT, rounding=ROUND_HALF_UP)


def effective_cost_twd(cost_idr: int, rate: Decimal, *, fee_idr: int = 0, fee_twd: int = 0) -> Decimal:
    """What fulfilling through a supplier really costs us in TWD: IDR cost and fee at the rate, plus TWD fee."""
    return idr_to_twd(cost_idr + fee_idr, rate) + Decimal(fee_twd)
