"""The orders list (search + keyset paging on ix_payments_created) and one order's header and items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, tuple_
from sqlmodel import Session, col

from esa_domain.core.errors import InvalidRequest
from esa_domain.models import Customer, Payment, PaymentItem, Product

TAIPEI = ZoneInfo("Asia/Taipei")  # the business day is Taiwan's


@dataclass(frozen=True)
class OrderFilter:
    """q: an order id, a MerchantTradeNo, a customer's LINE user id or a target number (exact match);
    status: a payment status or ""; date_from/date_to: Taiwan calendar days, inclusive."""

    q: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class OrderRow:
    id: int
    merchant_trade_no: str
    status: str
    amount_twd: int
    created_at: datetime
    line_user_id: str
    targets: str  # the items' targets, comma-separated


@dataclass(frozen=True)
class OrderPage:
    rows: list[OrderRow]
    next_cursor: tuple[datetime, int] | None  # pass as `after` for the next page; None on the last page


# the days an order can have been placed on, with room: outside them a date is a typo (and 9999-12-31 + 1 day
# would overflow)
FIRST_DAY, LAST_DAY = date(2020, 1, 1), date(2100, 12, 31)


def filter_day(value: str, label: str) -> date | None:
    """The calendar day typed into the `label` filter ("From", "To"); None when empty.

    Raises InvalidRequest, with a message for the person who typed it, when `value` is no date or out of range.
    """
    text = value.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{label} date {text!r} is not a date: write it like 2026-01-31.") from None
    _check_day(day, label)
    return day


def _check_day(day: date, label: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidRequest(
            f"{label} date {day.isoformat()} is out of range: pick a day between {FIRST_DAY.isoformat()} "
            f"and {LAST_DAY.isoformat()}."
        )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TAIPEI)


def search_orders(
    session: Session, f: OrderFilter, *, after: tuple[datetime, int] | None = None, limit: int = 25
) -> OrderPage:
    """Newest first. Every search term is an exact match on a unique or indexed column (no LIKE scans).

    Raises InvalidRequest when a date filter is outside FIRST_DAY..LAST_DAY or From is after To.
    """
    for day, label in ((f.date_from, "From"), (f.date_to, "To")):
        if day is not None:
            _check_day(day, label)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise InvalidRequest(
            f"From ({f.date_from.isoformat()}) is after To ({f.date_to.isoformat()}): swap them or clear one."
        )
    stmt = select(
        Payment.id,
        Payment.merchant_trade_no,
        Payment.status,
        Payment.amount_twd,
        Payment.created_at,
        Customer.line_user_id,
    ).join(Customer, col(Customer.id) == col(Payment.customer_id))
    q = f.q.strip()
    if q:
        terms = [
            col(Payment.merchant_trade_no) == q,
            col(Customer.line_user_id) == q,
            col(Payment.id).in_(select(PaymentItem.payment_id).where(col(PaymentItem.target) == q)),
        ]
        if q.isdigit() and len(q) < 18:
            terms.append(col(Payment.id) == int(q))
        stmt = stmt.where(or_(*terms))
    if f.status:
        stmt = stmt.where(col(Payment.status) == f.status)
    if f.date_from:
        stmt = stmt.where(col(Payment.created_at) >= _day_start(f.date_from))
    if f.date_to:
        stmt = stmt.where(col(Payment.created_at) < _day_start(f.date_to + timedelta(days=1)))
    if after is not None:
        stmt = stmt.where(tuple_(col(Payment.created_at), col(Payment.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Payment.created_at).desc(), col(Payment.id).desc()).limit(limit + 1)
    rows = session.execute(stmt).all()
    page, more = rows[:limit], len(rows) > limit
    targets = _targets(session, [r[0] for r in page])
    out = [OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], targets.get(r[0], "")) for r in page]
    return OrderPage(out, (page[-1][4], page[-1][0]) if more and page else None)


def _targets(session: Session, payment_ids: list[int]) -> dict[int, str]:
    if not payment_ids:
        return {}
    rows = session.execute(
        select(PaymentItem.payment_id, func.string_agg(PaymentItem.target, ", "))
        .where(col(PaymentItem.payment_id).in_(payment_ids))
        .group_by(PaymentItem.payment_id)
    ).all()
    return {r[0]: r[1] for r in rows}


@dataclass(frozen=True)
class ItemView:
    id: int
    product_code: str
    product_name: str
    target: str
    zone: str | None
    status: str
    price_twd: int
    cost_idr: int
    artifact: str | None
    failure_reason: str | None
    deadline_at: datetime | None


@dataclass(frozen=True)
class OrderView:
    id: int
    merchant_trade_no: str
    status: str
    amount_twd: int
    subtotal_twd: int
    discount_twd: int
    refunded_twd: int
    cost_twd: Decimal
    fx_rate: Decimal
    payment_method: str | None
    ecpay_trade_no: str | None
    created_at: datetime
    paid_at: datetime | None
    expires_at: datetime
    line_user_id: str
    customer_name: str
    items: list[ItemView]

    @property
    def margin_twd(self) -> Decimal:
        return Decimal(self.amount_twd) - self.cost_twd


def order_view(session: Session, payment_id: int) -> OrderView | None:
    """One payment with its customer and items, or None if there is no such payment."""
    row = session.execute(
        select(Payment, Customer)
        .join(Customer, col(Customer.id) == col(Payment.customer_id))
        .where(col(Payment.id) == payment_id)
    ).first()
    if row is None:
        return None
    p, c = row
    items = session.execute(
        select(PaymentItem, Product.code, Product.name)
        .join(Product, col(Product.id) == col(PaymentItem.product_id))
        .where(col(PaymentItem.payment_id) == payment_id)
        .order_by(col(PaymentItem.id))
    ).all()
    return OrderView(
        id=p.id,
        merchant_trade_no=p.merchant_trade_no,
        status=p.status,
        amount_twd=p.amount_twd,
        subtotal_twd=p.subtotal_twd,
        discount_twd=p.discount_twd,
        refunded_twd=p.refunded_twd,
        cost_twd=p.cost_twd,
        fx_rate=p.fx_rate,
        payment_method=p.payment_method,
        ecpay_trade_no=p.ecpay_trade_no,
        created_at=p.created_at,
        paid_at=p.paid_at,
        expires_at=p.expires_at,
        line_user_id=c.line_user_id,
        customer_name=c.display_name,
        items=[
            ItemView(
                i.id,
                code,
                name,
                i.target,
                i.zone,
                i.status,
                i.price_twd,
                i.cost_idr,
                i.artifact,
                i.failure_reason,
                i.deadline_at,
            )
            for i, code, name in items
        ],
    )
