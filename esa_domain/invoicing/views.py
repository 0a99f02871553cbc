"""What people read about e-invoices (issue 19): one order's invoice (customer's order page, LINE), its events
(the dashboard's order timeline), and a business day's invoices tied to the daily close.

Read-only; every figure comes from the invoice tables (esa_domain.models.invoices) and the payments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.core.states import ADJUSTMENT, INVOICE, AdjustmentStatus, InvoiceStatus
from esa_domain.operations.daily_close import day_bounds

Iv, Ad = InvoiceStatus, AdjustmentStatus


@dataclass(frozen=True)
class InvoiceView:
    status: str  # core.states.INVOICE: PENDING | ISSUED | FAILED | VOID | INVALIDATED
    invoice_no: str | None  # e.g. AB12345678, once issued
    random_number: str | None  # the 4-digit random code, once issued
    issued_at: datetime | None
    amount_twd: int  # the invoice's amount: as issued, else what is to be issued
    allowance_twd: int  # allowances ECPay made on it
    carrier_kind: str  # none | mobile | donation
    carrier_value: str | None
    invalidated: bool

    @property
    def status_label(self) -> str:
        return INVOICE[self.status].operator

    def customer_text(self, language: str = "id") -> str:
        return INVOICE.customer_text(self.status, language)


_ONE = text(
    """
    SELECT status, invoice_no, random_number, issued_at, coalesce(issued_twd, amount_twd) AS amount_twd,
        allowance_twd, carrier_kind, carrier_value
    FROM invoices WHERE payment_id = :p
    """
)


def invoice_for_payment(session: Session, payment_id: int) -> InvoiceView | None:
    """The order's invoice, or None while it has none (not settled yet, or nothing was delivered)."""
    row = session.connection().execute(_ONE, {"p": payment_id}).first()
    if row is None:
        return None
    return InvoiceView(
        status=row.status,
        invoice_no=row.invoice_no,
        random_number=row.random_number,
        issued_at=row.issued_at,
        amount_twd=int(row.amount_twd),
        allowance_twd=int(row.allowance_twd),
        carrier_kind=row.carrier_kind,
        carrier_value=row.carrier_value,
        invalidated=row.status == Iv.INVALIDATED,
    )


@dataclass(frozen=True)
class InvoiceEvent:
    """One move of the order's invoice or of one of its adjustments, for the order timeline."""

    at: datetime
    subject: str  # "invoice" | "allowance" | "invalidation"
    from_status: str | None
    to_status: str
    label: str  # the operator's reading of the state reached
    colour: str  # its badge colour
    cause: str
    actor: str
    amount_twd: int | None  # the adjustment's amount (None for the invoice's own moves)
    reference: str | None  # RelateNumber (invoice) or the adjustment's reference
    ecpay_number: str | None  # InvoiceNo, or ECPay's AllowanceNo


_TIMELINE = text(
    """
    SELECT h.created_at, h.from_status, h.to_status, h.cause, h.actor, h.adjustment_id,
        a.kind, a.amount_twd, a.reference AS adj_reference, a.allowance_no,
        i.relate_number, i.invoice_no
    FROM invoice_history h
    JOIN invoices i ON i.id = h.invoice_id
    LEFT JOIN invoice_allowances a ON a.id = h.adjustment_id
    WHERE h.payment_id = :p
    ORDER BY h.created_at, h.id
    """
)


def invoice_timeline(session: Session, payment_id: int) -> list[InvoiceEvent]:
    """Every move of the order's invoice and its adjustments, oldest first."""
    events = []
    for r in session.connection().execute(_TIMELINE, {"p": payment_id}):
        if r.adjustment_id is None:
            state = INVOICE[r.to_status]
            events.append(
                InvoiceEvent(
                    r.created_at,
                    "invoice",
                    r.from_status,
                    r.to_status,
                    state.operator,
                    state.colour,
                    r.cause,
                    r.actor,
                    None,
                    r.relate_number,
                    r.invoice_no,
                )
            )
        else:
            state = ADJUSTMENT[r.to_status]
            events.append(
                InvoiceEvent(
                    r.created_at,
                    r.kind,
                    r.from_status,
                    r.to_status,
                    state.operator,
                    state.colour,
                    r.cause,
                    r.actor,
                    int(r.amount_twd),
                    r.adj_reference,
                    r.allowance_no,
                )
            )
    return events


@dataclass(frozen=True)
class DailyInvoiceRow:
    """One paid order of the day: what it kept, and how its invoice accounts for it."""

    payment_id: int
    merchant_trade_no: str
    payment_status: str
    paid_twd: int  # as the daily close counts it (paid_amount_twd)
    refunded_twd: int  # as the daily close counts it (refunds confirmed)
    invoice_status: str | None  # None: no invoice (nothing delivered, or not settled yet)
    invoice_no: str | None
    random_number: str | None
    issued_twd: int  # on the issued invoice (0 when not issued, or invalidated)
    allowance_twd: int  # allowances ECPay made
    invalidated_twd: int  # the amount of an invalidated invoice
    awaiting_issue_twd: int  # an invoice not issued yet (PENDING / FAILED): its amount
    awaiting_adjustment_twd: int  # refunds confirmed whose allowance / invalidation is not made yet
    refund_due_twd: int  # undelivered value not refunded yet (its refund is on its way) or not settled yet
    difference_twd: int  # kept - invoiced - awaiting issue + awaiting adjustment - refund due: 0 when it ties

    @property
    def kept_twd(self) -> int:
        return self.paid_twd - self.refunded_twd

    @property
    def invoiced_twd(self) -> int:
        return self.issued_twd - self.allowance_twd


@dataclass(frozen=True)
class DailyAdjustmentRow:
    """One allowance or invalidation made (or asked for) on the day, whatever day its invoice is from."""

    adjustment_id: int
    payment_id: int
    kind: str
    status: str
    amount_twd: int
    reference: str
    allowance_no: str | None
    invoice_no: str | None
    at: datetime


@dataclass(frozen=True)
class DailyInvoices:
    day: date
    rows: list[DailyInvoiceRow]  # the day's paid orders, as the daily close takes them (created that day)
    adjustments: list[DailyAdjustmentRow]  # adjustments created on the day
    paid_twd: int  # ties to the close's esa_paid_twd
    refunded_twd: int  # ties to the close's esa_refunded_twd
    issued_twd: int
    allowance_twd: int
    invalidated_twd: int
    awaiting_issue_twd: int
    awaiting_adjustment_twd: int
    refund_due_twd: int
    difference_twd: int  # the sum of the rows' differences: 0 when every order's invoice ties

    @property
    def invoiced_twd(self) -> int:
        return self.issued_twd - self.allowance_twd

    @property
    def untied(self) -> list[DailyInvoiceRow]:
        return [r for r in self.rows if r.difference_twd]


_DAY = text(
    f"""
    SELECT p.id, p.merchant_trade_no, p.status AS payment_status, coalesce(p.paid_amount_twd, 0) AS paid,
        p.refunded_twd AS refunded, p.amount_twd, p.subtotal_twd,
        i.status AS invoice_status, i.invoice_no, i.random_number,
        coalesce(i.issued_twd, 0) AS issued, coalesce(i.allowance_twd, 0) AS allowance, i.amount_twd AS to_issue,
        coalesce((SELECT sum(a.amount_twd) FROM invoice_allowances a
                  WHERE a.invoice_id = i.id AND a.status <> '{Ad.DONE}'), 0) AS open_adjustments,
        coalesce((SELECT sum(x.price_twd) FROM payment_items x
                  WHERE x.payment_id = p.id AND x.status = 'FAILED'), 0) AS undelivered,
        coalesce((SELECT sum(r.amount_twd) FROM refunds r WHERE r.payment_id = p.id AND r.purpose = 'undelivered'
                  AND r.status = 'CONFIRMED'), 0) AS undelivered_refunded
    FROM payments p LEFT JOIN invoices i ON i.payment_id = p.id
    WHERE p.created_at >= :start AND p.created_at < :end AND p.paid_at IS NOT NULL
    ORDER BY p.id
    """  # noqa: S608 (constants only)
)

_ADJUSTMENTS = text(
    """
    SELECT a.id, a.payment_id, a.kind, a.status, a.amount_twd, a.reference, a.allowance_no, i.invoice_no,
        a.created_at
    FROM invoice_allowances a JOIN invoices i ON i.id = a.invoice_id
    WHERE a.created_at >= :start AND a.created_at < :end
    ORDER BY a.id
    """
)

_NOT_SETTLED = ("PAID",)


def daily_invoices(session: Session, day: date) -> DailyInvoices:
    """The business day's (Asia/Taipei, as the daily close) paid orders with their invoices, the adjustments
    made that day, and totals: what was kept (paid less refunded, the close's figures) is what the invoices say
    (issued less allowances), plus what is on its way (an invoice not issued yet, a refund whose invoice
    adjustment is not made yet, an undelivered refund not made yet). `difference_twd` is what none of it
    explains: 0 when the day ties."""
    start, end = day_bounds(day)
    conn = session.connection()
    rows = []
    for r in conn.execute(_DAY, {"start": start, "end": end}):
        paid, refunded = int(r.paid), int(r.refunded)
        status = r.invoice_status
        issued = int(r.issued) if status in (Iv.ISSUED,) else 0
        allowance = int(r.allowance) if status == Iv.ISSUED else 0
        invalidated = int(r.issued) if status == Iv.INVALIDATED else 0
        awaiting_issue = int(r.to_issue) if status in (Iv.PENDING, Iv.FAILED) else 0
        awaiting_adjustment = int(r.open_adjustments) if status == Iv.ISSUED else 0
        if r.payment_status in _NOT_SETTLED:
            refund_due = paid - refunded  # still delivering: nothing is invoiced yet
        else:
            # the undelivered items' refund as payments.refunds.refund_amount computes it (their share, rounded up)
            subtotal = max(int(r.subtotal_twd), 1)
            share = min(-(-int(r.amount_twd) * int(r.undelivered) // subtotal), int(r.amount_twd))
            refund_due = max(0, share - int(r.undelivered_refunded))
        difference = (
            (paid - refunded) - (issued - allowance) - awaiting_issue + awaiting_adjustment - refund_due
        )
        rows.append(
            DailyInvoiceRow(
                r.id,
                r.merchant_trade_no,
                r.payment_status,
                paid,
                refunded,
                status,
                r.invoice_no,
                r.random_number,
                issued,
                allowance,
                invalidated,
                awaiting_issue,
                awaiting_adjustment,
                refund_due,
                difference,
            )
        )
    adjustments = [
        DailyAdjustmentRow(
            a.id,
            a.payment_id,
            a.kind,
            a.status,
            int(a.amount_twd),
            a.reference,
            a.allowance_no,
            a.invoice_no,
            a.created_at,
        )
        for a in conn.execute(_ADJUSTMENTS, {"start": start, "end": end})
    ]
    return DailyInvoices(
        day=day,
        rows=rows,
        adjustments=adjustments,
        paid_twd=sum(r.paid_twd for r in rows),
        refunded_twd=sum(r.refunded_twd for r in rows),
        issued_twd=sum(r.issued_twd for r in rows),
        allowance_twd=sum(r.allowance_twd for r in rows),
        invalidated_twd=sum(r.invalidated_twd for r in rows),
        awaiting_issue_twd=sum(r.awaiting_issue_twd for r in rows),
        awaiting_adjustment_twd=sum(r.awaiting_adjustment_twd for r in rows),
        refund_due_twd=sum(r.refund_due_twd for r in rows),
        difference_twd=sum(r.difference_twd for r in rows),
    )
