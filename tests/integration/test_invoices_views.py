"""esa_domain.invoicing.views over the invoice tables (issue 19): what one order's invoice reads, its timeline,
and a day's list with totals that tie to the daily close."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.invoicing.views import daily_invoices, invoice_for_payment, invoice_timeline
from esa_domain.operations.daily_close import business_day


def test_an_order_without_an_invoice_reads_none(db):
    with Session(db) as s:
        assert invoice_for_payment(s, 12345) is None
        assert invoice_timeline(s, 12345) == []
        day = daily_invoices(s, business_day(datetime.now(UTC)))
        assert day.rows == [] and day.difference_twd == 0
        s.execute(text("SELECT 1"))
