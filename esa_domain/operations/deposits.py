"""Supplier deposits: balances read on a schedule and from purchase answers, kept as a history; the
low-balance alert with its forecast; and `deposit_can_cover`, which routing asks before choosing a supplier.

A supplier is paid from a deposit we top up. An empty deposit shows up as configuration failures, then
fallbacks, then refunds; reading the balance lets an operator top up before that, and lets routing move on
without counting the supplier against its breaker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import SupplierAdapter, SupplierError
from esa_domain.models import Supplier, SupplierBalance

log = logging.getLogger(__name__)


def latest_balance(session: Session, supplier_id: int) -> SupplierBalance | None:
    """The most recent reading of a supplier's deposit, or None when it was never read."""
    return session.exec(  # type: ignore[call-overload]
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
