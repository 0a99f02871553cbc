"""Refreshing the IDR/TWD rate from a source, or setting it by hand; both leave a record.

Rates are Decimals end to end: the HTTP source parses JSON with parse_float=Decimal, so no float holds one.
A failed refresh leaves the previous rate in place; once it is too old, quotes are refused (esa_domain.catalog.fx).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from esa_domain.catalog.fx import PAIR
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import FxRate, JobRun

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
JOB_KIND = "fx_refresh"
# IDR/TWD has sat around 0.002 for decades: far outside this band is a broken source or an inverted rate
PLAUSIBLE = (Decimal("0.0005"), Decimal("0.01"))


class FxSourceError(DomainError):
    """The source could not give a usable rate; the message says why."""

    code = "fx_source_error"
    http_status = 502


@dataclass(frozen=True)
class FxQuote:
    rate: Decimal  # TWD per 1 IDR
    source: str  # where it came from, stored with the rate
    fetched_at: datetime


class FxSource(Protocol):
    """Where rates come from (esa_domain.adapters.fx_source.HttpFxSource, or a test's own)."""

    def fetch(self) -> FxQuote: ...


def checked_rate(value: Any) -> Decimal:
    """The rate as a Decimal if it is a plausible TWD-per-IDR number; FxSourceError otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise FxSourceError(f"the rate must be a decimal string, got {type(value).__name__}")
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise FxSourceError(f"the rate '{value}' is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise FxSourceError(f"the rate {value} is not a positive number")
    low, high = PLAUSIBLE
    if not low <= rate <= high:
        raise FxSourceError(
            f"the rate {rate} TWD per IDR is implausible (expected {low} to {high}): inverted or broken?"
        )
    return rate


def refresh_rate(uow_factory: UowFactory, source: FxSource, *, now: datetime | None = None) -> FxRate:
    """Fetch the rate from `source` and store it; a job_runs row ("fx_refresh") records the run either way.

    `now`: the run's start time (default: the clock). Raises FxSourceError (after recording the failed run)
    when the source fails or answers an implausible rate; the previous rate then stays the newest.
    """
    now = now or datetime.now(UTC)
    with uow_factory() as uow:
        run = JobRun(kind=JOB_KIND, started_at=now, status="running")
        uow.session.add(run)
        uow.commit()
        run_id = run.id
    try:
        quote = source.fetch()
        rate = checked_rate(quote.rate)  # a source adapter may skip the check; the store never does
    except Exception as exc:
        error = str(exc) if isinstance(exc, FxSourceError) else f"{type(exc).__name__}: {exc}"
        with uow_factory() as uow:
            failed = uow.session.get(JobRun, run_id)
            assert failed is not None
            failed.status, failed.error, failed.finished_at = "failed", error[:500], datetime.now(UTC)
            uow.commit()
        log.warning("FX refresh failed: %s", error)
        if isinstance(exc, FxSourceError):
            raise
        raise FxSourceError(error) from exc
    with uow_factory() as uow:
        row = FxRate(pair=PAIR, rate=rate, source=quote.source[:60], fetched_at=quote.fetched_at)
        uow.session.add(row)
        uow.session.flush()
        done = uow.session.get(JobRun, run_id)
        assert done is not None
        done.status, done.finished_at = "ok", datetime.now(UTC)
        done.summary = {"pair": PAIR, "rate": str(rate), "source": quote.source, "fx_rate_id": row.id}
        uow.commit()
        return row
