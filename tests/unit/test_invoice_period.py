"""The invalidation period of a B2C e-invoice, as ECPay's 作廢發票 page states it (developers.ecpay.com.tw/?p=7906):
"每年奇數月的 13 號 23:59:59 以後，因已申報至財政部，無法作廢前兩個月開立的發票。例如 3 月 14 號時，不能作廢 1、2 月所開立的發票。"
"""

from __future__ import annotations

from datetime import datetime

import pytest

from esa_domain.invoicing.period import TAIPEI, invalidation_deadline, may_invalidate


def t(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TAIPEI)


def test_the_documented_example_march_14th_cannot_invalidate_january_or_february():
    for issued in (t(2026, 1, 2), t(2026, 2, 28, 23, 59)):
        assert may_invalidate(issued, t(2026, 3, 13, 23, 59, 59))
        assert not may_invalidate(issued, t(2026, 3, 14))


@pytest.mark.parametrize(
    ("issued", "deadline"),
    [
        (t(2026, 3, 1), t(2026, 5, 14)),
        (t(2026, 4, 30, 23), t(2026, 5, 14)),
        (t(2026, 11, 5), t(2027, 1, 14)),
        (t(2026, 12, 31, 23, 59), t(2027, 1, 14)),
    ],
)
def test_each_two_month_period_closes_after_the_13th_of_the_next_odd_month(issued, deadline):
    assert invalidation_deadline(issued) == deadline


def test_an_utc_time_is_read_in_taipei():
    from datetime import UTC

    # 28 Feb 17:00 UTC is 1 March 01:00 in Taipei: the March-April period
    assert invalidation_deadline(datetime(2026, 2, 28, 17, tzinfo=UTC)) == t(2026, 5, 14)
