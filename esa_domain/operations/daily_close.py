"""The daily close: a three-way match, per business day (Asia/Taipei), of

- ECPay's view of each trade (QueryTradeInfo/V5: paid or not, the amount; for card trades, the refunds standing in
  CreditDetail/QueryTrade/V2's close data),
- ESA's payments and refunds (payments.paid_at / paid_amount_twd / refunded_twd),
- each supplier's own record of each attempt (a status check with the attempt's reference) and the movement of its
  deposit over the day (supplier_balances).

Every difference is stored once (close_differences, keyed by day, kind and what it is about), raised once as an
alert with a link to its order, and listed on the dashboard's Close page (exportable as CSV). A close can be
re-run for the same day: it adds only what is new, and the day's totals are recomputed.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import Outcome, PurchaseRequest, SupplierAdapter
from esa_domain.models import CloseDifference, DailyClose, Payment, SupplierBalance, SupplierExchange
from esa_domain.operations.alerts import raise_alert
from esa_domain.operations.deposits import rupiah
from esa_domain.operations.links import order_path

if TYPE_CHECKING:
    from esa_domain.infra.db import UnitOfWork

log = logging.getLogger(__name__)

TAIPEI = ZoneInfo("Asia/Taipei")
UowFactory = Callable[[], "UnitOfWork"]

# the kinds of difference, and how an operator reads each
PAID_NOT_RECORDED = "paid_at_ecpay_not_in_esa"
PAID_NOT_AT_ECPAY = "paid_in_esa_not_at_ecpay"
AMOUNT_DIFFERS = "paid_amount_differs"
REFUND_NOT_RECORDED = "refunded_at_ecpay_not_in_esa"
REFUND_NOT_AT_ECPAY = "refund_in_esa_not_at_ecpay"
DELIVERED_BUT_FAILED = "delivered_at_supplier_failed_here"
REVERSED = "reversed_after_success"
DEPOSIT_UNEXPLAINED = "deposit_moved_unexplained"
ECPAY_UNANSWERED = "ecpay_could_not_be_asked"

KIND_LABELS = {
    PAID_NOT_RECORDED: "Paid at ECPay, not paid here",
    PAID_NOT_AT_ECPAY: "Paid here, not paid at ECPay",
    AMOUNT_DIFFERS: "Paid amount differs",
    REFUND_NOT_RECORDED: "Refunded at ECPay, not recorded here",
    REFUND_NOT_AT_ECPAY: "Refund recorded here, not at ECPay",
    DELIVERED_BUT_FAILED: "Delivered at the supplier, failed here",
    REVERSED: "Reversed by the supplier after success",
    DEPOSIT_UNEXPLAINED: "Deposit moved more than deliveries explain",
    ECPAY_UNANSWERED: "ECPay could not be asked",
}
CLOSE_ALERT = "close_difference"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The business day's start and end (exclusive) as aware datetimes: midnight to midnight in Taipei."""
    start = datetime.combine(day, time.min, tzinfo=TAIPEI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def business_day(at: datetime) -> date:
    return at.astimezone(TAIPEI).date()


@dataclass
class Difference:
    kind: str
    ref: str  # what it is about, unique within the day and kind (a trade number, an attempt, a supplier)
    detail: str
    payment_id: int | None = None
    supplier_id: int | None = None
    merchant_trade_no: str | None = None
    amount: int | None = None


@dataclass
class CloseResult:
    day: date
    totals: dict[str, Any]
    differences: list[Difference] = field(default_factory=list)
    new: int = 0  # differences found for the first time (and alerted)


# -- ECPay against ESA --------------------------------------------------------------------------------------------


def _payments_of(session: Session, start: datetime, end: datetime) -> list[Payment]:
    """The day's trades: payments created on the business day."""
    return list(
        session.execute(
            select(Payment).where(Payment.created_at >= start, Payment.created_at < end).order_by(Payment.id)  # type: ignore[arg-type]
        ).scalars()
    )


def _ecpay_side(
    payments: list[Payment], client: Any, credit_check_code: str, totals: dict[str, Any]
) -> list[Difference]:
    out: list[Difference] = []
    ecpay_paid = ecpay_refunded = 0
    ecpay_count = 0
    for p in payments:
        try:
            trade = client.query_trade(p.merchant_trade_no)
        except Exception as exc:  # throttled, unreachable, an answer we cannot trust: said so, not guessed
            out.append(
                Difference(ECPAY_UNANSWERED, p.merchant_trade_no, f"QueryTradeInfo failed: {exc}"[:500],
                           payment_id=p.id, merchant_trade_no=p.merchant_trade_no)
            )  # fmt: skip
            continue
        paid_here = p.paid_at is not None
        if trade.status == "paid":
            ecpay_count += 1
            ecpay_paid += trade.amount_twd or 0
            if not paid_here:
                out.append(
                    Difference(
                        PAID_NOT_RECORDED, p.merchant_trade_no,
                        f"ECPay says trade {trade.trade_no} was paid NT${trade.amount_twd} on {trade.payment_date} "
                        f"({trade.payment_type}); here the order is {p.status} and no payment was recorded "
                        "(the notification never arrived?)",
                        payment_id=p.id, merchant_trade_no=p.merchant_trade_no, amount=trade.amount_twd,
                    )
                )  # fmt: skip
            elif (
                trade.amount_twd is not None
                and p.paid_amount_twd is not None
                and trade.amount_twd != p.paid_amount_twd
            ):
                out.append(
                    Difference(
                        AMOUNT_DIFFERS, p.merchant_trade_no,
                        f"ECPay says NT${trade.amount_twd} was paid; recorded here NT${p.paid_amount_twd}",
                        payment_id=p.id, merchant_trade_no=p.merchant_trade_no,
                        amount=trade.amount_twd - p.paid_amount_twd,
                    )
                )  # fmt: skip
            refunded = _ecpay_refunded(client, trade, credit_check_code)
            if refunded is not None:
                ecpay_refunded += refunded
                if refunded > p.refunded_twd:
                    out.append(
                        Difference(
                            REFUND_NOT_RECORDED, p.merchant_trade_no,
                            f"ECPay shows NT${refunded} refunded on this card trade; recorded here NT${p.refunded_twd}",
                            payment_id=p.id, merchant_trade_no=p.merchant_trade_no, amount=refunded - p.refunded_twd,
                        )
                    )  # fmt: skip
                elif refunded < p.refunded_twd:
                    out.append(
                        Difference(
                            REFUND_NOT_AT_ECPAY, p.merchant_trade_no,
                            f"Recorded here NT${p.refunded_twd} refunded; ECPay shows NT${refunded}",
                            payment_id=p.id, merchant_trade_no=p.merchant_trade_no, amount=p.refunded_twd - refunded,
                        )
                    )  # fmt: skip
        elif paid_here:  # unpaid, failed, or a trade ECPay does not know
            out.append(
                Difference(
                    PAID_NOT_AT_ECPAY, p.merchant_trade_no,
                    f"Recorded here as paid NT${p.paid_amount_twd}; ECPay says the trade is {trade.status} "
                    f"(TradeStatus {trade.trade_status})",
                    payment_id=p.id, merchant_trade_no=p.merchant_trade_no, amount=p.paid_amount_twd,
                )
            )  # fmt: skip
    totals["ecpay_paid_count"] = ecpay_count
    totals["ecpay_paid_twd"] = ecpay_paid
    totals["ecpay_refunded_twd"] = ecpay_refunded
    return out


def _ecpay_refunded(client: Any, trade: Any, credit_check_code: str) -> int | None:
    """The refunds ECPay holds for a card trade (CreditDetail/QueryTrade/V2), or None when it cannot say."""
    gwsr = trade.fields.get("gwsr", "")
    query = getattr(client, "query_credit_detail", None)
    if not gwsr or query is None or not trade.payment_type.startswith("Credit"):
        return None
    try:
        return int(query(gwsr, trade.amount_twd or 0, credit_check_code).refunded_twd)
    except Exception as exc:  # the refunds' view is missing for this trade: the payment side still stands
        log.warning("CreditDetail for %s unavailable: %s", trade.merchant_trade_no, exc)
        return None


# -- the suppliers against ESA ------------------------------------------------------------------------------------

_ATTEMPTS = text(
    """
    SELECT a.id, a.reference, a.state, a.cost_idr, a.supplier_id, s.code, s.name, o.supplier_sku, i.target,
           i.zone, c.kind, i.payment_id, i.status AS item_status, a.finished_at
    FROM item_attempts a
    JOIN suppliers s ON s.id = a.supplier_id
    JOIN payment_items i ON i.id = a.item_id
    JOIN products p ON p.id = i.product_id
    JOIN product_categories c ON c.id = p.category_id
    LEFT JOIN supplier_offers o ON o.supplier_id = a.supplier_id AND o.product_id = i.product_id
    WHERE a.created_at >= :start AND a.created_at < :end AND a.state IN ('SUCCESS', 'FAILED')
    ORDER BY a.id
    """
)


def _supplier_side(
    uow_factory: UowFactory,
    adapters: Mapping[str, SupplierAdapter],
    start: datetime,
    end: datetime,
    totals: dict[str, Any],
) -> tuple[list[Difference], dict[int, int]]:
    """Ask each supplier about each of the day's finished attempts; returns the differences and, per supplier,
    the IDR its own records say it delivered (what the deposit should have paid for)."""
    with uow_factory() as uow:
        rows = list(uow.session.execute(_ATTEMPTS, {"start": start, "end": end}).all())
    out: list[Difference] = []
    delivered: dict[int, int] = defaultdict(int)
    checked: Counter[str] = Counter()
    for r in rows:
        adapter = adapters.get(r.code)
        ours = r.state
        theirs: str | None = None
        if adapter is not None:
            request = PurchaseRequest(
                reference=r.reference, sku=r.supplier_sku or "", target=r.target, zone=r.zone,
                expected_cost_idr=r.cost_idr, postpaid=r.kind == "postpaid",
            )  # fmt: skip
            try:
                result = adapter.check_status(request)
            except Exception as exc:  # an adapter failure leaves this attempt unmatched, not the close
                log.warning("close: status of %s at %s unavailable: %s", r.reference, r.code, exc)
                result = None
            if result is not None:
                _store_exchanges(uow_factory, r.supplier_id, r.id, result.exchanges)
                outcome = result.outcome.outcome
                theirs = outcome.value if outcome in (Outcome.SUCCESS, Outcome.FAILED) else None
                checked[r.code] += 1
        if theirs == "SUCCESS" or (theirs is None and ours == "SUCCESS"):
            delivered[r.supplier_id] += r.cost_idr
        if theirs == "SUCCESS" and ours == "FAILED":
            out.append(
                Difference(
                    DELIVERED_BUT_FAILED, f"attempt:{r.id}",
                    f"{r.name} says {r.reference} (to {r.target}) was delivered; here it failed and the item is "
                    f"{r.item_status}: the customer may have been refunded for goods they got",
                    payment_id=r.payment_id, supplier_id=r.supplier_id, amount=r.cost_idr,
                )
            )  # fmt: skip
        elif theirs == "FAILED" and ours == "SUCCESS":
            out.append(
                Difference(
                    REVERSED, f"attempt:{r.id}",
                    f"{r.name} now says {r.reference} (to {r.target}) failed after it reported success; the "
                    "customer was told it was delivered",
                    payment_id=r.payment_id, supplier_id=r.supplier_id, amount=r.cost_idr,
                )
            )  # fmt: skip
    totals["attempts_checked"] = dict(checked)
    return out, dict(delivered)


def _store_exchanges(
    uow_factory: UowFactory, supplier_id: int, attempt_id: int, exchanges: Iterable[Any]
) -> None:
    with uow_factory() as uow:
        for ex in exchanges:
            uow.session.add(
                SupplierExchange(
                    supplier_id=supplier_id, attempt_id=attempt_id, operation=ex.operation[:20],
                    method=ex.method[:8], url=ex.url[:500], request_json=ex.request, response_json=ex.response,
                    http_status=ex.http_status, latency_ms=ex.latency_ms, error=ex.error[:300] if ex.error else None,
                )
            )  # fmt: skip
        uow.commit()


def _reading_at(session: Session, supplier_id: int, at: datetime) -> SupplierBalance | None:
    return session.execute(
        select(SupplierBalance)
        .where(SupplierBalance.supplier_id == supplier_id, SupplierBalance.observed_at <= at)
        .order_by(SupplierBalance.observed_at.desc(), SupplierBalance.id.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).scalar_one_or_none()


def _deposit_side(
    session: Session,
    start: datetime,
    end: datetime,
    delivered: dict[int, int],
    tolerance_idr: int,
    totals: dict[str, Any],
) -> list[Difference]:
    """Per supplier: the deposit's fall over the day (first reading at or before the start to the last at or
    before the end) against what the supplier delivered. Top-ups hide spending, never invent it."""
    out: list[Difference] = []
    movement: dict[str, Any] = {}
    suppliers = session.execute(text("SELECT id, code, name FROM suppliers ORDER BY id")).all()
    for sid, code, name in suppliers:
        before, after = _reading_at(session, sid, start), _reading_at(session, sid, end)
        spent_by_deliveries = delivered.get(sid, 0)
        if before is None or after is None or before.id == after.id:
            movement[code] = {"delivered_idr": spent_by_deliveries, "moved_idr": None}
            continue
        moved = before.balance_idr - after.balance_idr
        movement[code] = {"delivered_idr": spent_by_deliveries, "moved_idr": moved}
        if moved - spent_by_deliveries > tolerance_idr:
            out.append(
                Difference(
                    DEPOSIT_UNEXPLAINED, f"supplier:{sid}",
                    f"{name}'s deposit fell {rupiah(moved)} (from {rupiah(before.balance_idr)} to "
                    f"{rupiah(after.balance_idr)}) while its deliveries explain {rupiah(spent_by_deliveries)}: "
                    f"{rupiah(moved - spent_by_deliveries)} unexplained",
                    supplier_id=sid, amount=moved - spent_by_deliveries,
                )
            )  # fmt: skip
    totals["deposits"] = movement
    return out


# -- ESA's own totals -----------------------------------------------------------------------------------------------


def _esa_totals(payments: list[Payment], totals: dict[str, Any]) -> None:
    paid = [p for p in payments if p.paid_at is not None]
    totals["orders"] = len(payments)
    totals["esa_paid_count"] = len(paid)
    totals["esa_paid_twd"] = sum(p.paid_amount_twd or 0 for p in paid)
    totals["esa_refunded_twd"] = sum(p.refunded_twd for p in payments)
    totals["by_status"] = dict(Counter(p.status for p in payments))


# -- the close ------------------------------------------------------------------------------------------------------


def close_day(
    uow_factory: UowFactory,
    day: date,
    *,
    ecpay_client: Any,
    adapters: Mapping[str, SupplierAdapter],
    public_url: str,
    credit_check_code: str = "",
    deposit_tolerance_idr: int = 0,
) -> CloseResult:
    """Close one business day: match, store each new difference once, alert it once, store the day's totals."""
    start, end = day_bounds(day)
    totals: dict[str, Any] = {}
    with uow_factory() as uow:
        payments = _payments_of(uow.session, start, end)
        uow.session.expunge_all()
    _esa_totals(payments, totals)
    differences = _ecpay_side(payments, ecpay_client, credit_check_code, totals)
    supplier_diffs, delivered = _supplier_side(uow_factory, adapters, start, end, totals)
    differences += supplier_diffs
    with uow_factory() as uow:
        differences += _deposit_side(uow.session, start, end, delivered, deposit_tolerance_idr, totals)
        new = _record(uow.session, day, differences, public_url)
        totals["differences"] = dict(Counter(d.kind for d in differences))
        stored = uow.session.execute(
            text("SELECT count(*) FROM close_differences WHERE business_day = :d"), {"d": day}
        ).scalar_one()
        uow.session.execute(
            insert(DailyClose)
            .values(business_day=day, totals=totals, differences=stored, computed_at=datetime.now(UTC))
            .on_conflict_do_update(
                index_elements=["business_day"],
                set_={"totals": totals, "differences": stored, "computed_at": datetime.now(UTC)},
            )
        )
        uow.commit()
    return CloseResult(day, totals, differences, new)


def _record(session: Session, day: date, differences: list[Difference], public_url: str) -> int:
    new = 0
    for d in differences:
        key = f"{day.isoformat()}:{d.kind}:{d.ref}"[:160]
        inserted = session.execute(
            insert(CloseDifference)
            .values(
                business_day=day,
                kind=d.kind,
                dedupe_key=key,
                payment_id=d.payment_id,
                supplier_id=d.supplier_id,
                merchant_trade_no=d.merchant_trade_no,
                amount=d.amount,
                detail=d.detail[:500],
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(CloseDifference.id)
        ).scalar_one_or_none()
        if inserted is None:
            continue
        new += 1
        raise_alert(
            session,
            condition=CLOSE_ALERT,
            title=f"Close {day.isoformat()}: {KIND_LABELS.get(d.kind, d.kind)}",
            body=d.detail,
            public_url=public_url,
            payment_id=d.payment_id,
            dedupe_key=f"close:{key}",
        )
    return new


def previous_business_day(now: datetime | None = None) -> date:
    return business_day(now or datetime.now(UTC)) - timedelta(days=1)


def closed_after_end(session: Session, day: date) -> bool:
    """Whether `day` was closed once it was over (a close run during the day does not count)."""
    _, end = day_bounds(day)
    row = session.execute(
        select(DailyClose.computed_at).where(DailyClose.business_day == day)
    ).scalar_one_or_none()
    return row is not None and row >= end


# -- reading it back (the dashboard and the CSV) --------------------------------------------------------------------


@dataclass(frozen=True)
class DayRow:
    day: date
    totals: dict[str, Any]
    differences: int
    computed_at: datetime


@dataclass(frozen=True)
class DifferenceRow:
    id: int
    day: date
    kind: str
    label: str
    payment_id: int | None
    merchant_trade_no: str | None
    supplier: str | None
    amount: int | None
    detail: str
    found_at: datetime


def closes(session: Session, limit: int = 60) -> list[DayRow]:
    rows = session.execute(
        select(DailyClose).order_by(DailyClose.business_day.desc()).limit(limit)  # type: ignore[attr-defined]
    ).scalars()
    return [DayRow(r.business_day, r.totals or {}, r.differences, r.computed_at) for r in rows]


def differences_of(session: Session, start: date, end: date | None = None) -> list[DifferenceRow]:
    """The differences found for the business days start..end (inclusive), oldest day first."""
    rows = session.execute(
        text(
            "SELECT d.id, d.business_day, d.kind, d.payment_id, d.merchant_trade_no, s.name AS supplier, d.amount, "
            "d.detail, d.found_at FROM close_differences d LEFT JOIN suppliers s ON s.id = d.supplier_id "
            "WHERE d.business_day BETWEEN :a AND :b ORDER BY d.business_day, d.id"
        ),
        {"a": start, "b": end or start},
    ).all()
    return [
        DifferenceRow(r.id, r.business_day, r.kind, KIND_LABELS.get(r.kind, r.kind), r.payment_id,
                      r.merchant_trade_no, r.supplier, r.amount, r.detail, r.found_at)
        for r in rows
    ]  # fmt: skip


def difference_rows(session: Session, start: date, end: date) -> Iterator[list[str]]:
    """The CSV export of the differences (esa_domain.views.exports): a header, then one row per difference."""
    yield [
        "business_day",
        "kind",
        "what",
        "order",
        "order_link",
        "merchant_trade_no",
        "supplier",
        "amount",
        "detail",
    ]
    for d in differences_of(session, start, end):
        yield [
            d.day.isoformat(), d.kind, d.label, str(d.payment_id or ""),
            order_path(d.payment_id) if d.payment_id else "", d.merchant_trade_no or "", d.supplier or "",
            "" if d.amount is None else str(d.amount), d.detail,
        ]  # fmt: skip
