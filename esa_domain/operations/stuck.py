"""Stuck: the one table of conditions in which an order has stopped moving and a person should know.

Each condition says what finds it (a query that starts from a partial index of rows that can still move:
ix_payments_open, ix_items_open, ix_items_needs_review or ix_refunds_open, so the scan stays small), how long it
may last (its threshold, from the ReconcilePolicy, hence from Settings), what heals it, and how its LINE alert
reads. The
reconciler alerts on exactly these rows (once per order and condition), and the dashboard's Stuck page and the
overview's count list exactly these rows: what one shows, the other has alerted on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, literal, or_, select
from sqlmodel import Session, col

from esa_domain.core.states import (
    ITEM_OPEN,
    REFUND_LIVE,
    REFUND_OPEN,
    ItemStatus,
    PaymentStatus,
    RefundStatus,
)
from esa_domain.models import Payment, PaymentItem, Refund
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.payments.refunds import REFUND_MISMATCH, REVIEW_CONDITIONS


@dataclass(frozen=True)
class Found:
    """One stuck row: an order (and the item, for item conditions), and when its condition's clock started."""

    payment_id: int
    merchant_trade_no: str
    item_id: int | None
    since: datetime  # the threshold counts from here: the window closed, the payment, the last move
    detail: str = ""  # what the page adds to the reason (the items still open, ...)


Finder = Callable[
    [Session, datetime, int], list[Found]
]  # (session, cutoff, limit): rows whose clock < cutoff


@dataclass(frozen=True)
class StuckCondition:
    name: str  # the alert's condition (its dedupe key is "<name>:payment:<id>") and the page's badge
    find: Finder
    threshold: Callable[[ReconcilePolicy], timedelta]
    healed_by: str  # what moves it on by itself, or "an operator"
    reason: str  # the page's "why"; {age} and {detail} are filled in
    title: str  # the LINE alert's title; {pid} is the order
    body: str  # the LINE alert's text; {pid}, {age} and {detail}
    # alerts under these conditions already told a person about this order (raised where it got stuck)
    alerted_as: tuple[str, ...] = ()

    def cutoff(self, policy: ReconcilePolicy, now: datetime) -> datetime:
        return now - self.threshold(policy)

    def stuck(self, session: Session, policy: ReconcilePolicy, now: datetime, limit: int) -> list[Found]:
        return self.find(session, self.cutoff(policy, now), limit)

    def reason_for(self, found: Found, now: datetime) -> str:
        return self.reason.format(age=age(now - found.since), detail=found.detail)

    def alert_for(self, found: Found, now: datetime) -> tuple[str, str]:
        fill = {"pid": found.payment_id, "age": age(now - found.since), "detail": found.detail}
        return self.title.format(**fill), self.body.format(**fill)


def age(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def per_order(rows: Iterable[Found]) -> Iterator[Found]:
    """The first row of each order: alerts are once per order and condition."""
    seen: set[int] = set()
    for r in rows:
        if r.payment_id not in seen:
            seen.add(r.payment_id)
            yield r


# The queries. Payment conditions filter on created_at too: every clock they use (expires_at, paid_at,
# updated_at) starts at or after created_at, so the bound is implied, and it lets ix_payments_open
# (status, created_at) range-scan instead of reading every open payment of that status.


def _pending_past_window(s: Session, cutoff: datetime, limit: int) -> list[Found]:
    rows = s.execute(
        select(Payment.id, Payment.merchant_trade_no, Payment.expires_at)
        .where(col(Payment.status) == PaymentStatus.PENDING, col(Payment.created_at) < cutoff)
        .where(col(Payment.expires_at) < cutoff)
        .order_by(col(Payment.created_at))
        .limit(limit)
    ).all()
    return [Found(pid, mtn, None, since) for pid, mtn, since in rows]


def _items_of(*statuses: str):  # type: ignore[no-untyped-def]
    return exists().where(
        col(PaymentItem.payment_id) == col(Payment.id), col(PaymentItem.status).in_(list(statuses))
    )


def _paid_not_delivered(s: Session, cutoff: datetime, limit: int) -> list[Found]:
    open_statuses = sorted(ITEM_OPEN)
    still_open = (
        select(func.string_agg(col(PaymentItem.status).distinct(), literal(", ")))
        .where(col(PaymentItem.payment_id) == col(Payment.id), col(PaymentItem.status).in_(open_statuses))
        .scalar_subquery()
    )
    rows = s.execute(
        select(Payment.id, Payment.merchant_trade_no, Payment.paid_at, still_open)
        .where(col(Payment.status) == PaymentStatus.PAID, col(Payment.created_at) < cutoff)
        .where(col(Payment.paid_at) < cutoff)
        # an order whose only unfinished items wait for an operator is item_needs_review, not this
        .where(or_(_items_of(*open_statuses), ~_items_of(ItemStatus.NEEDS_REVIEW)))
        .order_by(col(Payment.created_at))
        .limit(limit)
    ).all()
    return [
        Found(pid, mtn, None, since, f"items {items}" if items else "no item open")
        for pid, mtn, since, items in rows
    ]


def _refund_unfinished(s: Session, cutoff: datetime, limit: int) -> list[Found]:
    """Card refunds REQUESTED or SENT whose last move (or last DoAction) is older than the cutoff."""
    since = func.coalesce(Refund.updated_at, Refund.created_at)  # its last move (a resume does not reset it)
    rows = s.execute(
        select(Payment.id, Payment.merchant_trade_no, since, Refund.id, Refund.amount_twd, Refund.status,
               Refund.ecpay_answer)
        .select_from(Refund)  # ix_refunds_open: only the refunds not finished
        .join(Payment, col(Payment.id) == col(Refund.payment_id))
        .where(col(Refund.status).in_(list(REFUND_LIVE)), since < cutoff)
        .order_by(since)
        .limit(limit)
    ).all()  # fmt: skip
    return [
        Found(pid, mtn, None, at, f"refund #{rid} NT${amount} {status}" + (f": {answer}" if answer else ""))
        for pid, mtn, at, rid, amount, status, answer in rows
    ]


def _refund_missing(s: Session, cutoff: datetime, limit: int) -> list[Found]:
    """FAILED or PARTIAL payments (or REFUND_PENDING ones) whose undelivered part has no refund at all."""
    since = func.coalesce(Payment.updated_at, Payment.created_at)
    no_refund = ~exists().where(
        col(Refund.payment_id) == col(Payment.id), col(Refund.purpose) == "undelivered"
    )
    rows = s.execute(
        select(Payment.id, Payment.merchant_trade_no, since, Payment.status)
        .where(
            col(Payment.status).in_(
                [PaymentStatus.FAILED, PaymentStatus.PARTIAL, PaymentStatus.REFUND_PENDING]
            ),
            col(Payment.created_at) < cutoff,
        )
        .where(since < cutoff, no_refund)
        .order_by(col(Payment.created_at))
        .limit(limit)
    ).all()
    return [Found(pid, mtn, None, at, str(status)) for pid, mtn, at, status in rows]


def _item_in_review(s: Session, cutoff: datetime, limit: int) -> list[Found]:
    since = func.coalesce(PaymentItem.updated_at, PaymentItem.created_at)
    rows = s.execute(
        select(Payment.id, Payment.merchant_trade_no, PaymentItem.id, since)
        .select_from(PaymentItem)  # ix_items_needs_review: only the items waiting for an operator
        .join(Payment, col(Payment.id) == col(PaymentItem.payment_id))
        .where(col(PaymentItem.status) == ItemStatus.NEEDS_REVIEW, since <= cutoff)
        .order_by(since)
        .limit(limit)
    ).all()
    return [Found(pid, mtn, item_id, at) for pid, mtn, item_id, at in rows]


def _refund_in_review(s: Session, cutoff: datetime, limit: int) -> list[Found]:
    """Refunds waiting for a person (an operator's task, or refused by ECPay), and NEEDS_REVIEW payments from
    before refunds were rows of their own."""
    since = func.coalesce(Refund.updated_at, Refund.created_at)
    tasks = s.execute(
        select(Payment.id, Payment.merchant_trade_no, since, Refund.id, Refund.amount_twd, Refund.status)
        .select_from(Refund)
        .join(Payment, col(Payment.id) == col(Refund.payment_id))
        .where(col(Refund.status).in_([RefundStatus.MANUAL, RefundStatus.FAILED]), since <= cutoff)
        .order_by(since)
        .limit(limit)
    ).all()
    found = [
        Found(pid, mtn, None, at, f"refund #{rid} NT${amount} {status}")
        for pid, mtn, at, rid, amount, status in tasks
    ]
    pay_since = func.coalesce(Payment.updated_at, Payment.created_at)
    legacy = s.execute(
        select(Payment.id, Payment.merchant_trade_no, pay_since)
        .where(col(Payment.status) == PaymentStatus.NEEDS_REVIEW, col(Payment.created_at) <= cutoff)
        .where(pay_since <= cutoff)
        .where(
            ~exists().where(
                col(Refund.payment_id) == col(Payment.id), col(Refund.status).in_(list(REFUND_OPEN))
            )
        )
        .order_by(col(Payment.created_at))
        .limit(limit)
    ).all()
    found += [Found(pid, mtn, None, at, "no refund row") for pid, mtn, at in legacy]
    found.sort(key=lambda f: f.since)
    return found[:limit]


STUCK: tuple[StuckCondition, ...] = (
    StuckCondition(
        name="payment_unconfirmed",
        find=_pending_past_window,
        threshold=lambda p: p.alert_pending_after,
        healed_by="the reconciler: it asks ECPay (QueryTradeInfo), then accepts or expires the payment",
        reason="PENDING {age} past its payment window; ECPay could not be asked, or gave no answer",
        title="Order {pid}: payment unconfirmed",
        body="Order {pid} is still waiting for ECPay {age} after its payment window closed; "
        "the query path could not settle it.",
    ),
    StuckCondition(
        name="paid_not_delivered",
        find=_paid_not_delivered,
        threshold=lambda p: p.alert_paid_after,
        healed_by="the reconciler: it re-dispatches lost items, re-checks stalled ones and overdue checks; "
        "an item WAITING for a supplier's deposit or breaker resumes when that clears, one held below the "
        "margin floor needs an operator (retry once the cost allows it, or refund)",
        reason="PAID {age} ago and not delivered yet ({detail})",
        title="Order {pid}: paid not delivered",
        body="Order {pid} was paid {age} ago and is not delivered yet ({detail}).",
    ),
    StuckCondition(
        name="refund_stuck",
        find=_refund_unfinished,
        threshold=lambda p: p.alert_refund_after,
        healed_by="the reconciler: it re-sends a lost refund message, and asks ECPay about a refund whose "
        "answer was lost before sending anything again",
        reason="{detail}, not moving for {age}",
        title="Order {pid}: refund stuck",
        body="Order {pid}: {detail}, not moving for {age}.",
        alerted_as=(REFUND_MISMATCH,),
    ),
    StuckCondition(
        name="refund_missing",
        find=_refund_missing,
        threshold=lambda p: p.alert_refund_after,
        healed_by="the reconciler: it starts the refund whose message was lost",
        reason="{detail} {age} and no refund started",
        title="Order {pid}: refund never started",
        body="Order {pid} is {detail} since {age} ago and no refund was started.",
    ),
    StuckCondition(
        # the fulfillment engine raises this one as it parks the item; same name, so one alert per order
        name="item_needs_review",
        find=_item_in_review,
        threshold=lambda p: p.alert_review_after,
        healed_by="an operator: check with the supplier, then resolve the item",
        reason="item outcome unknown for {age}: an operator must resolve it",
        title="Order {pid}: an item needs review",
        body="Order {pid} has an item whose supplier outcome is unknown. Resolve it.",
    ),
    StuckCondition(
        name="refund_needs_review",
        find=_refund_in_review,
        threshold=lambda p: p.alert_review_after,
        healed_by="an operator: refund by hand, then mark the refund done with its reference",
        reason="{detail}: waiting {age} for an operator to refund by hand",
        title="Order {pid}: refund needs an operator",
        body="Order {pid} could not be refunded automatically ({detail}). Refund it by hand.",
        # esa_domain.payments.refunds alerts as it parks the payment, under the reason it could not refund
        alerted_as=REVIEW_CONDITIONS,
    ),
)

BY_NAME = {c.name: c for c in STUCK}
