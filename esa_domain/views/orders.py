"""The orders list (search + keyset paging on ix_payments_created), one customer's page, and one order's header
and items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, tuple_, union
from sqlmodel import Session, col

from esa_domain.core.errors import InvalidRequest
from esa_domain.models import Customer, ItemAttempt, Payment, PaymentItem, Product

TAIPEI = ZoneInfo("Asia/Taipei")  # the business day is Taiwan's


@dataclass(frozen=True)
class OrderFilter:
    """q: anything a person has in hand (see `search_ids`); status: a payment status or "";
    date_from/date_to: Taiwan calendar days, inclusive; customer_id: one customer's orders only."""

    q: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    customer_id: int | None = None


@dataclass(frozen=True)
class OrderRow:
    id: int
    merchant_trade_no: str
    status: str
    amount_twd: int
    created_at: datetime
    line_user_id: str
    targets: str  # the items' targets, comma-separated
    customer_id: int = 0
    customer_name: str = ""


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


# the shortest run of digits searched for inside targets (shorter ones match nearly everything)
MIN_PARTIAL_DIGITS = 4


def number_forms(text: str) -> tuple[list[str], list[str]]:
    """The ways an Indonesian number is written, for a search: +62 813..., 62813..., 0813... (and spaces, dashes,
    dots) all name the same line. Returns the full forms to match exactly, and the runs of digits to look for
    inside a target (the national digits, without 0 or 62; both readings when a bare "62..." may be either);
    ([], []) when `text` is not made of digits."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits or any(ch.isalpha() for ch in text):
        return [], []
    if text.strip().startswith("+") and digits.startswith("62"):
        runs = [digits[2:]]
    elif digits.startswith("62"):
        runs = [digits[2:], digits]  # 6281... is +62 81...; a short 6281 may also be part of a number
    elif digits.startswith("0"):
        runs = [digits[1:]]
    else:
        runs = [digits]
    national = runs[0]
    forms = sorted({digits, "0" + national, "62" + national, "+62" + national})
    return forms, [r for r in runs if r]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_ids(q: str, within: Sequence[Any] = (), first: int | None = None):
    """The ids of the orders `q` finds: our order number (76 or #76), ECPay's MerchantTradeNo and TradeNo, a
    supplier's reference or transaction id, a customer's LINE user id or name (part of it), and a target in any of
    its written forms or by a run of at least MIN_PARTIAL_DIGITS of its digits.

    One UNION with a branch per place, each a plain condition on one column so that column's index serves it:
    b-trees for the equalities, trigram GIN indexes (migration 0016) for part of a name (ILIKE) or of a number
    (LIKE). An OR across the joined tables instead reads every order. A part of a name or number can match
    thousands of orders: those branches keep only the `first` newest under the listing's own conditions on
    payments (`within`), which is all the listing can show of them."""
    q = q.strip()
    bare = q.removeprefix("#").strip()
    by_customer = select(Payment.id).join(Customer, col(Customer.id) == col(Payment.customer_id))
    by_attempt = select(PaymentItem.payment_id).join(
        ItemAttempt, col(ItemAttempt.item_id) == col(PaymentItem.id)
    )
    forms, runs = number_forms(q)
    branches = [
        select(Payment.id).where(col(Payment.merchant_trade_no) == q),
        select(Payment.id).where(col(Payment.ecpay_trade_no) == q),
        by_customer.where(col(Customer.line_user_id) == q),
        select(PaymentItem.payment_id).where(col(PaymentItem.target).in_(sorted({q, *forms}))),
        by_attempt.where(col(ItemAttempt.reference) == q),
        by_attempt.where(col(ItemAttempt.supplier_txn_id) == q),
    ]
    if bare.isdigit() and len(bare) < 18:
        branches.append(select(Payment.id).where(col(Payment.id) == int(bare)))

    def newest(stmt):  # type: ignore[no-untyped-def]
        stmt = stmt.where(*within)
        if first is None:
            return stmt
        return stmt.order_by(col(Payment.created_at).desc(), col(Payment.id).desc()).limit(first)

    if len(q) >= 2 and not q.isdigit():
        name = col(Customer.display_name).ilike(f"%{_like_escape(q)}%", escape="\\")
        branches.append(newest(by_customer.where(name)))
    for run in runs:  # digits only: nothing to escape
        if len(run) >= MIN_PARTIAL_DIGITS:
            items = select(PaymentItem.payment_id).where(col(PaymentItem.target).like(f"%{run}%"))
            branches.append(newest(select(Payment.id).where(col(Payment.id).in_(items))))
    return union(*branches)


def search_orders(
    session: Session, f: OrderFilter, *, after: tuple[datetime, int] | None = None, limit: int = 25
) -> OrderPage:
    """Newest first, matching every filter given (see `search_ids` for what `q` finds).

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
        Customer.id,
        Customer.display_name,
    ).join(Customer, col(Customer.id) == col(Payment.customer_id))
    within: list[Any] = []  # conditions on payments alone
    if f.customer_id is not None:
        within.append(col(Payment.customer_id) == f.customer_id)
    if f.status:
        within.append(col(Payment.status) == f.status)
    if f.date_from:
        within.append(col(Payment.created_at) >= _day_start(f.date_from))
    if f.date_to:
        within.append(col(Payment.created_at) < _day_start(f.date_to + timedelta(days=1)))
    if after is not None:
        within.append(tuple_(col(Payment.created_at), col(Payment.id)) < tuple_(*after))
    stmt = stmt.where(*within)
    q = f.q.strip()
    if q:
        stmt = stmt.where(col(Payment.id).in_(search_ids(q, within, limit + 1)))
    stmt = stmt.order_by(col(Payment.created_at).desc(), col(Payment.id).desc()).limit(limit + 1)
    rows = session.execute(stmt).all()
    page, more = rows[:limit], len(rows) > limit
    targets = _targets(session, [r[0] for r in page])
    out = [OrderRow(r[0], r[1], r[2], r[3], r[4], r[5], targets.get(r[0], ""), r[6], r[7]) for r in page]
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
    customer_id: int = 0

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
        customer_id=c.id,
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


@dataclass(frozen=True)
class CustomerView:
    id: int
    line_user_id: str
    display_name: str
    created_at: datetime
    orders: int
    paid_twd: int  # what they paid on orders that were paid, less refunds
    refunded_twd: int
    last_order_at: datetime | None


PAID_STATES = ("PAID", "SUCCESS", "PARTIAL", "FAILED", "REFUND_PENDING", "REFUNDED", "NEEDS_REVIEW")


def customer_view(session: Session, customer_id: int) -> CustomerView | None:
    """One customer with what they have bought from us; None if there is no such customer."""
    c = session.get(Customer, customer_id)
    if c is None:
        return None
    count, paid, refunded, last = session.execute(
        select(
            func.count(Payment.id),
            func.coalesce(func.sum(Payment.amount_twd).filter(col(Payment.status).in_(PAID_STATES)), 0),
            func.coalesce(func.sum(Payment.refunded_twd), 0),
            func.max(Payment.created_at),
        ).where(col(Payment.customer_id) == customer_id)
    ).one()
    return CustomerView(
        c.id,
        c.line_user_id,
        c.display_name,
        c.created_at,
        count,
        int(paid) - int(refunded),
        int(refunded),
        last,
    )


def item_numbers(session: Session, item_ids: list[int]) -> dict[int, str]:
    """Each item's number as the pages show it: its order's number and its place in that order ("#76-1")."""
    if not item_ids:
        return {}
    ranked = select(
        PaymentItem.id,
        PaymentItem.payment_id,
        func.row_number().over(partition_by=PaymentItem.payment_id, order_by=PaymentItem.id).label("n"),
    ).where(
        col(PaymentItem.payment_id).in_(
            select(PaymentItem.payment_id).where(col(PaymentItem.id).in_(item_ids))
        )
    )
    return {i: f"#{p}-{n}" for i, p, n in session.execute(ranked).all() if i in set(item_ids)}
