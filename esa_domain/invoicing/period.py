"""When an issued B2C invoice may still be invalidated (作廢) rather than adjusted by an allowance (折讓).

Taiwan's uniform invoices run in two-month periods (Jan-Feb, Mar-Apr, ..., Nov-Dec); a period's invoices are
declared for VAT by the 15th of the next odd month, and its lottery is drawn on the 25th. An invoice may be
invalidated while its period is still open for the merchant: we take the rule as "until the 13th of the month
after the period ends" (Jan-Feb invoices until 12 March, 23:59:59 Asia/Taipei), the cut-off ECPay's merchants
work to (issue 19's brief: "the invoice period / the 13th of the next odd month"); past it, or when an
allowance already stands on the invoice (ECPay: invalidate the allowances first), or for a donated invoice
(ECPay's B2C guide: 捐贈發票不可作廢), the refund becomes an allowance instead. The rule errs early: an allowance
is always allowed, an invalidation refused by ECPay would leave the refund's adjustment to an operator.
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
    """The moment an invoice issued at `issued_at` can no longer be invalidated: 00:00 Asia/Taipei on the 13th
    of the month after its period."""
    year, first = period_of(issued_at)
    month = first + 2
    if month > 12:
        month, year = month - 12, year + 1
    return datetime(year, month, 13, tzinfo=TAIPEI)


def may_invalidate(issued_at: datetime, now: datetime) -> bool:
    return now < invalidation_deadline(issued_at)
