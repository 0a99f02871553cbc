"""How the dashboard prints money, rates and times (Taipei time: the business's clock)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from esa_domain.views.orders import TAIPEI


def twd(amount: int | Decimal | None) -> str:
    if amount is None:
        return "—"
    if isinstance(amount, Decimal) and amount != amount.to_integral_value():
        return f"NT${amount:,.2f}"
    return f"NT${int(amount):,}"


def idr(amount: int | None) -> str:
    return "—" if amount is None else f"Rp{amount:,}".replace(",", ".")


def pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def when(at: datetime | None) -> str:
    return "—" if at is None else at.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S")


def age(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} d"
