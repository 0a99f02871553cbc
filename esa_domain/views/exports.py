"""CSV exports for a range of Taiwan calendar days: orders, refunds (the refund moves of payments) and the audit
log. Each export is a header row and then rows of plain strings, ready for csv.writer."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from esa_domain.core.errors import InvalidRequest
from esa_domain.models import (
    Customer,
    Operator,
    OperatorAction,
    Payment,
    PaymentHistory,
    PaymentItem,
    Product,
)
from esa_domain.views.orders import TAIPEI, _check_day, _day_start

MAX_DAYS = 366  # one export covers at most a year: longer ranges are split by the person asking
REFUND_STATES = ("REFUND_PENDING", "REFUNDED", "NEEDS_REVIEW")
# a cell starting with one of these is a formula to a spreadsheet: prefixed with ' so it stays text
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_range(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The days an export covers: both ends inclusive, today (Taipei) when both are missing.

    Raises InvalidRequest with a message for the person when the range is backwards, out of range or too long."""
    today = datetime.now(TAIPEI).date()
    start, end = date_from or date_to or today, date_to or date_from or today
    for day, label in ((start, "From"), (end, "To")):
        _check_day(day, label)
    if start > end:
        raise InvalidRequest(f"From ({start.isoformat()}) is after To ({end.isoformat()}): swap them.")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRequest(f"An export covers at most {MAX_DAYS} days: split the range.")
    return start, end


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return _day_start(start), _day_start(end + timedelta(days=1))


def _taipei(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S")


def orders_rows(session: Session, start: date, end: date) -> Iterator[list[str]]:
    """One row per order created in the range, oldest first."""
    lo, hi = _bounds(start, end)
    yield [
        "order", "created_taipei", "status", "customer", "line_user_id", "targets", "products", "subtotal_twd",
        "discount_twd", "amount_twd", "refunded_twd", "payment_method", "paid_taipei", "merchant_trade_no",
        "ecpay_trade_no",
    ]  # fmt: skip
    lines = (
        select(
            PaymentItem.payment_id,
            func.string_agg(PaymentItem.target, ", ").label("targets"),
            func.string_agg(Product.name, ", ").label("products"),
        )
        .join(Product, col(Product.id) == col(PaymentItem.product_id))
        .group_by(PaymentItem.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(Payment, Customer.display_name, Customer.line_user_id, lines.c.targets, lines.c.products)
        .join(Customer, col(Customer.id) == col(Payment.customer_id))
        .outerjoin(lines, lines.c.payment_id == col(Payment.id))
        .where(col(Payment.created_at) >= lo, col(Payment.created_at) < hi)
        .order_by(col(Payment.created_at), col(Payment.id))
    ).all()
    for p, name, line_id, targets, products in rows:
        yield [
            f"#{p.id}", _taipei(p.created_at), p.status, name, line_id, targets or "", products or "",
            str(p.subtotal_twd), str(p.discount_twd), str(p.amount_twd), str(p.refunded_twd),
            p.payment_method or "", _taipei(p.paid_at), p.merchant_trade_no, p.ecpay_trade_no or "",
        ]  # fmt: skip


def refunds_rows(session: Session, start: date, end: date) -> Iterator[list[str]]:
    """One row per refund move of a payment in the range (started, made, or left to an operator), oldest first."""
    lo, hi = _bounds(start, end)
    yield [
        "at_taipei", "order", "from_status", "to_status", "cause", "by", "amount_twd", "refunded_twd",
        "payment_method", "merchant_trade_no", "ecpay_trade_no", "customer",
    ]  # fmt: skip
    rows = session.execute(
        select(PaymentHistory, Payment, Customer.display_name)
        .join(Payment, col(Payment.id) == col(PaymentHistory.payment_id))
        .join(Customer, col(Customer.id) == col(Payment.customer_id))
        .where(
            col(PaymentHistory.item_id).is_(None),
            col(PaymentHistory.to_status).in_(REFUND_STATES),
            col(PaymentHistory.created_at) >= lo,
            col(PaymentHistory.created_at) < hi,
        )
        .order_by(col(PaymentHistory.created_at), col(PaymentHistory.id))
    ).all()
    for h, p, name in rows:
        yield [
            _taipei(h.created_at), f"#{p.id}", h.from_status or "", h.to_status, h.cause, h.actor,
            str(p.amount_twd), str(p.refunded_twd), p.payment_method or "", p.merchant_trade_no,
            p.ecpay_trade_no or "", name,
        ]  # fmt: skip


def audit_rows(session: Session, start: date, end: date) -> Iterator[list[str]]:
    """One row per operator action in the range, oldest first."""
    lo, hi = _bounds(start, end)
    yield ["at_taipei", "operator", "action", "order", "subject", "reason", "detail"]
    rows = session.execute(
        select(OperatorAction, Operator.username)
        .outerjoin(Operator, col(Operator.id) == col(OperatorAction.operator_id))
        .where(col(OperatorAction.created_at) >= lo, col(OperatorAction.created_at) < hi)
        .order_by(col(OperatorAction.created_at), col(OperatorAction.id))
    ).all()
    for a, username in rows:
        yield [
            _taipei(a.created_at), username or "", a.action, f"#{a.payment_id}" if a.payment_id else "",
            a.subject or "", a.reason or "", "" if a.detail is None else _json(a.detail),
        ]  # fmt: skip


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def close_rows(session: Session, start: date, end: date) -> Iterable[list[str]]:
    """The daily close's differences for the business days in the range (esa_domain.operations.daily_close)."""
    from esa_domain.operations.daily_close import difference_rows

    return difference_rows(session, start, end)


def invoices_rows(session: Session, start: date, end: date) -> Iterable[list[str]]:
    """The e-invoices of the business days in the range (esa_domain.invoicing.views.daily_invoices): each paid
    order with its invoice and how it ties, as the dashboard's E-invoices page lists them."""
    from esa_domain.invoicing.views import daily_invoices

    yield [
        "business_day", "order", "merchant_trade_no", "payment_status", "paid_twd", "refunded_twd",
        "invoice_status", "invoice_no", "random_number", "issued_twd", "allowance_twd", "invalidated_twd",
        "awaiting_issue_twd", "awaiting_adjustment_twd", "refund_due_twd", "difference_twd",
    ]  # fmt: skip
    day = start
    while day <= end:
        for r in daily_invoices(session, day).rows:
            yield [
                day.isoformat(), str(r.payment_id), r.merchant_trade_no, r.payment_status, str(r.paid_twd),
                str(r.refunded_twd), r.invoice_status or "", r.invoice_no or "", r.random_number or "",
                str(r.issued_twd), str(r.allowance_twd), str(r.invalidated_twd), str(r.awaiting_issue_twd),
                str(r.awaiting_adjustment_twd), str(r.refund_due_twd), str(r.difference_twd),
            ]  # fmt: skip
        day += timedelta(days=1)


EXPORTS: dict[str, tuple[str, Callable[[Session, date, date], Iterable[list[str]]]]] = {
    # name: (the role that may download it, its rows)
    "orders": ("viewer", orders_rows),
    "refunds": ("viewer", refunds_rows),
    "audit": ("admin", audit_rows),
    "close": ("viewer", close_rows),
    "invoices": ("viewer", invoices_rows),
}


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def to_csv(rows: Iterable[list[str]]) -> str:
    """The rows as CSV text (UTF-8 with a BOM, so a spreadsheet reads Chinese and Indonesian names right)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
