"""When an issued B2C invoice may still be invalidated (作廢) rather than adjusted by an allowance (折讓).

ECPay's B2C API, 作廢發票 (developers.ecpay.com.tw/?p=7906, 注意事項): "每年奇數月的 13 號 23:59:59 以後，因已申報至
財政部，無法作廢前兩個月開立的發票。例如 3 月 14 號時，不能作廢 1、2 月所開立的發票。" Taiwan's uniform invoices run in
two-month periods (Jan-Feb, Mar-Apr, ..., Nov-Dec): an invoice may be invalidated until 23:59:59 (Asia/Taipei) on the
13th of the month after its period (Jan-Feb invoices until 13 March), not after. Past it, or when an allowance stands
on the invoice (the same page: invalidate the allowances first), or for a donated invoice (ECPay's B2C guide:
捐贈發票不可作廢), a refund becomes an allowance instead; an invalidation ECPay refuses anyway becomes one too.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TAIPEI = ZoneInfo("Asia/Taipei")


def period_of(at: datetime) -> tuple[int, int]:
    """(year, first month) of the two-month invoice period `at` falls in (Asia/Taipei)."""
    local = at.astimezone(TAIPEI)
    return local.year, local.month - ((local.month - 1) % 2)


def invalidation_deadline(issued_at: datetime) -> datetime:
    """The moment an invoice issued at `issued_at` can no longer be invalidated: 00:00 Asia/Taipei on the 14th
    of the month after its period (the 13th, 23:59:59, is the last moment it can)."""
    year, first = period_of(issued_at)
    month = first + 2
    if month > 12:
        month, year = month - 12, year + 1
    return datetime(year, month, 14, tzinfo=TAIPEI)


def may_invalidate(issued_at: datetime, now: datetime) -> bool:
    return now < invalidation_deadline(issued_at)
