"""Issuing and adjusting ECPay B2C e-invoices (issue 19), as every other lifecycle: compare-and-set moves with
history (esa_domain.core.transitions), side effects through the outbox, a reference minted before any
request leaves.

Issuing (INVOICE lifecycle, table invoices):
- `open_invoice` runs in the transaction that settles a payment SUCCESS or PARTIAL (payments.settlement
  after_settled): ONE statement writes the invoice (PENDING, its RelateNumber 'I' + the payment's
  MerchantTradeNo, its amount: what the customer paid for what was delivered) with its history row and its
  outbox row, whose payload carries everything the Issue request needs (lines, carrier): no read transaction is
  added to the payment's path, and the worker reads nothing before it sends.
- `issue_invoice` (the worker): one Issue request, then one finishing transaction (the exchanges, ISSUED with
  InvoiceNo / RandomNumber, the customer's LINE message; FAILED with ECPay's refusal and an operator alert).
  A retry (the worker was killed after the request left, or ECPay's answer was lost) asks GetIssue by the
  RelateNumber first and issues only if ECPay has no such invoice; ECPay itself refuses a RelateNumber used
  twice (5070357), which is read the same way. Whether a try is a retry is marked in Redis before the request
  leaves (`sent_before`); the reconciler's heal always asks first.
- Lines: the delivered items in TWD, tax included (B2C: TaxType 1 應稅, InvType 07, vat 1), the order's
  discount spread over them so they add up to the amount.

Adjusting (ADJUSTMENT lifecycle, table invoice_allowances, one per refund):
- `on_refund_confirmed` runs in the transaction that confirms an operator's refund (payments.refunds): before
  the invoice is issued, the invoice's amount is lowered (only what is kept is issued; nothing at all when
  everything went back: VOID); after, an adjustment is requested: an invalidation (作廢) when the refund takes the
  whole invoice, nothing was allowed before, the invoice is not donated and its period allows it
  (esa_domain.invoicing.period), else an allowance (折讓). The undelivered part of a PARTIAL order is never
  invoiced, so its refund needs no adjustment.
- `adjust_invoice` (the worker) sends it; a retry asks GetIssue first (the invoice invalidated, or its
  remaining amount already lowered by this allowance). An invalidation ECPay refuses (its period passed, an
  allowance stands) becomes an allowance of the same amount at once.
- A definite ECPay answer settles the state whatever came before: an invoice found issued is ISSUED even if a
  refusal had made it FAILED; an invoice ECPay issued after its refund lowered the amount is adjusted for the
  difference in the finishing transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from esa_domain.adapters.ecpay_invoice.client import (
    EcpayInvoiceClient,
    Exchange,
    InvoiceThrottled,
    InvoiceUnavailable,
    IssueRequest,
    Line,
)
from esa_domain.core.states import ADJUSTMENT, INVOICE, AdjustmentStatus, InvoiceStatus
from esa_domain.core.transitions import born, initial_state, move
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import execute, for_driver
from esa_domain.invoicing.carrier import CARRIER_TYPE
from esa_domain.invoicing.period import may_invalidate
from esa_domain.operations.alerts import raise_alert
from esa_domain.ordering import notify

log = logging.getLogger(__name__)

Iv, Ad = InvoiceStatus, AdjustmentStatus
ACTOR = "system:invoicing"
INVOICE_REFUSED = "invoice_refused"  # alert conditions
INVOICE_LAGGING = "invoice_lagging"
ADJUSTMENT_REFUSED = "invoice_adjustment_refused"
ADJUSTMENT_LAGGING = "invoice_adjustment_lagging"
THROTTLE_BACKOFF = timedelta(
    minutes=30
)  # ECPay's answer to calls that come too fast (HTTP 403): wait this long
ITEM_WORD = "筆"  # the unit on each line: one top-up, one bill, one voucher

SentBefore = Callable[[str], bool]  # marks a reference as sent; True when it had been marked before


def never_sent(_: str) -> bool:
    """`sent_before` without a marker store: every first try issues; ECPay's duplicate answer backs it up."""
    return False


# ---- opening an invoice with the payment's settlement ---------------------------------------------------

_OPEN = text(
    f"""
    WITH p AS (
        SELECT p.id, p.merchant_trade_no, p.amount_twd, p.invoice_carrier_kind AS kind,
            p.invoice_carrier_value AS value,
            -- the undelivered items' refund, as payments.refunds.refund_amount: their share of what was charged,
            -- rounded up (a discount spread pro rata), at most the charge
            least(p.amount_twd, (p.amount_twd * coalesce(sum(i.price_twd) FILTER (WHERE i.status = 'FAILED'), 0)::bigint
                                 + greatest(p.subtotal_twd, 1) - 1) / greatest(p.subtotal_twd, 1)) AS undelivered,
            coalesce(jsonb_agg(jsonb_build_array(pr.name, i.price_twd) ORDER BY i.id)
                     FILTER (WHERE i.status = 'SUCCESS'), '[]'::jsonb) AS lines
        FROM payments p JOIN payment_items i ON i.payment_id = p.id JOIN products pr ON pr.id = i.product_id
        WHERE p.id = :payment GROUP BY p.id
    ), opened AS (
        INSERT INTO invoices (payment_id, relate_number, status, amount_twd, allowance_twd, carrier_kind,
            carrier_value, tries, created_at, updated_at)
        SELECT id, 'I' || merchant_trade_no, '{initial_state(INVOICE)}', amount_twd - undelivered, 0, kind, value,
            0, now(), now()
        FROM p WHERE amount_twd - undelivered > 0
        ON CONFLICT (payment_id) DO NOTHING
        RETURNING id, payment_id, relate_number, amount_twd, carrier_kind, carrier_value
    ), {born(INVOICE, rows="opened", name="opened_history", cause="'payment settled: ' || :status", actor=f"'{ACTOR}'")},
    queued AS (
        INSERT INTO outbox (topic, payload, available_at, dispatch_attempts)
        SELECT '{topics.ISSUE_INVOICE}', jsonb_build_object('invoice_id', o.id, 'plan', jsonb_build_object(
            'relate_number', o.relate_number, 'amount', o.amount_twd, 'carrier_kind', o.carrier_kind,
            'carrier_value', o.carrier_value, 'lines', p.lines)), NULL, 0
        FROM opened o, p
        RETURNING id, payload
    )
    SELECT id, payload FROM queued
    """  # noqa: S608 (constants only)
)


_OPEN_D = for_driver(_OPEN)


def open_invoice(session: Session, payment_id: int, status: str) -> int | None:
    """Write the payment's invoice (PENDING), its history row and its outbox row, in the caller's transaction
    (the one settling the payment SUCCESS or PARTIAL). None when nothing is to be invoiced (nothing kept) or
    the payment has its invoice already. Returns the outbox row's id."""
    row = execute(session, _OPEN_D, {"payment": payment_id, "status": str(status)}).fetchone()
    if row is None:
        return None
    outbox.remember(session, int(row.id), topics.ISSUE_INVOICE, dict(row.payload), None)
    return int(row.id)


def invoice_lines(lines: list[tuple[str, int]], amount: int) -> tuple[Line, ...]:
    """The invoice's lines: each delivered item at its price, less its share of the order's discount (spread
    in proportion to the prices, the remainder to the largest lines), so that they add up to `amount`. Lines
    left at NT$0 are dropped."""
    total = sum(price for _, price in lines)
    if total <= 0 or amount <= 0:
        return ()
    cut = total - amount  # the discount, and any part of the price not kept
    shares = [cut * price // total for _, price in lines]
    left = cut - sum(shares)
    for index in sorted(range(len(lines)), key=lambda i: -lines[i][1])[:left]:
        shares[index] += 1
    out = tuple(
        Line(str(name)[:100], price - share, word=ITEM_WORD)
        for (name, price), share in zip(lines, shares, strict=True)
        if price - share > 0
    )
    assert sum(line.price for line in out) == amount
    return out


def issue_request(plan: dict[str, Any], notify_email: str) -> IssueRequest:
    """ECPay's Issue request for an invoice plan (as open_invoice wrote it in the outbox payload)."""
    kind, value = plan["carrier_kind"], plan.get("carrier_value") or ""
    amount = int(plan["amount"])
    return IssueRequest(
        relate_number=plan["relate_number"],
        amount=amount,
        lines=invoice_lines([(n, int(p)) for n, p in plan["lines"]], amount),
        carrier_type=CARRIER_TYPE[kind],
        carrier_num=value if kind == "mobile" else "",
        love_code=value if kind == "donation" else "",
        customer_email=notify_email,
    )


# ---- the worker: issue -------------------------------------------------------------------------------

_READ_PLAN = text(
    """
    SELECT i.id, i.payment_id, i.relate_number, i.status, i.amount_twd, i.carrier_kind, i.carrier_value,
        coalesce((SELECT jsonb_agg(jsonb_build_array(pr.name, x.price_twd) ORDER BY x.id)
                  FROM payment_items x JOIN products pr ON pr.id = x.product_id
                  WHERE x.payment_id = p.id AND x.status = 'SUCCESS'), '[]'::jsonb) AS lines
    FROM invoices i JOIN payments p ON p.id = i.payment_id WHERE i.id = :id
    """
)

_EXCHANGE = text(
    """
    INSERT INTO invoice_exchanges (invoice_id, adjustment_id, operation, request_json, response_json, http_status,
        trans_code, rtn_code, latency_ms, created_at)
    VALUES (:invoice_id, :adjustment_id, :operation, :request_json, :response_json, :http_status, :trans_code,
        :rtn_code, :latency_ms, clock_timestamp())
    """
).bindparams(bindparam("request_json", type_=JSONB), bindparam("response_json", type_=JSONB))


_EXCHANGE_D = for_driver(_EXCHANGE)


def _store(
    session: Session, exchanges: list[Exchange], invoice_id: int, adjustment_id: int | None = None
) -> None:
    """The exchanges, as they were (redacted by the client), through the driver: one per invoice, usually."""
    for e in exchanges:
        row = e.record() | {"invoice_id": invoice_id, "adjustment_id": adjustment_id}
        row["request_json"], row["response_json"] = Jsonb(row["request_json"]), Jsonb(row["response_json"])
        execute(session, _EXCHANGE_D, row)


@lru_cache(maxsize=16)
def _invoice_move(to: str, sources: tuple[str, ...], sets: str = "") -> TextClause:
    moved = move(
        INVOICE,
        to=to,
        from_=sources,
        where="t.id = :id",
        sets=sets,
        cause=":cause",
        actor=f"'{ACTOR}'",
        returning=", t.amount_twd, t.carrier_kind, t.issued_at, t.allowance_twd, t.issued_twd",
    )
    return text(f"WITH {moved} SELECT * FROM moved")  # noqa: S608 (constants only)


@lru_cache(maxsize=4)
def _issued_move() -> str:
    """The PENDING|FAILED|VOID -> ISSUED move, for the driver (the one every delivered order makes)."""
    return for_driver(_invoice_move(Iv.ISSUED, (Iv.PENDING, Iv.FAILED, Iv.VOID), _ISSUED_SETS))


_ISSUED_SETS = (
    ", invoice_no = :no, random_number = :rnd, invoice_date = :date, issued_twd = :issued, issued_at = :at,"
    " ecpay_answer = :answer, tries = t.tries + :tries"
)


@dataclass(frozen=True)
class Issued:
    invoice_no: str
    random_number: str
    invoice_date: str
    amount: int


def _parse_date(text_: str) -> datetime:
    """ECPay's InvoiceDate ('2026-12-02 12:34:56', Asia/Taipei) as an aware time (now when unreadable)."""
    from esa_domain.invoicing.period import TAIPEI

    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text_[:19], fmt).replace(tzinfo=TAIPEI)
        except ValueError:
            continue
    return datetime.now(UTC)


def issue_invoice(
    uow_factory: Callable,
    client: EcpayInvoiceClient,
    invoice_id: int,
    plan: dict[str, Any] | None = None,
    *,
    notify_email: str,
    public_url: str = "",
    sent_before: SentBefore = never_sent,
) -> str:
    """Issue invoice `invoice_id` at ECPay (the ISSUE_INVOICE actor). `plan`: what open_invoice put in the
    outbox (the first try sends it without reading anything); None: read the invoice (the heal, a retry by
    hand), and ask ECPay first. Returns the invoice's status. Raises InvoiceUnavailable when ECPay could not be
    reached (the message is retried; the retry asks GetIssue first)."""
    resume = plan is None
    if plan is None:
        with uow_factory() as uow:
            row = uow.session.connection().execute(_READ_PLAN, {"id": invoice_id}).first()
        if row is None or row.status not in (Iv.PENDING, Iv.FAILED):
            return str(row.status) if row is not None else "missing"
        plan = {
            "relate_number": row.relate_number,
            "amount": int(row.amount_twd),
            "carrier_kind": row.carrier_kind,
            "carrier_value": row.carrier_value,
            "lines": row.lines,
        }
    relate = plan["relate_number"]
    exchanges: list[Exchange] = []
    try:
        found: Issued | None = None
        if resume or sent_before(relate):
            query = client.get_issue(relate_number=relate)
            exchanges.append(query.answer.exchange)
            if query.invoice is not None:
                found = Issued(
                    query.invoice.invoice_no,
                    query.invoice.random_number,
                    query.invoice.invoice_date,
                    query.invoice.sales_amount,
                )
        if found is None and int(plan["amount"]) <= 0:
            return _finish_void(uow_factory, invoice_id, exchanges)
        refusal = ""
        if found is None:
            if resume:
                sent_before(relate)
            result = client.issue(issue_request(plan, notify_email))
            exchanges.append(result.answer.exchange)
            if result.ok:
                found = Issued(
                    result.invoice_no, result.random_number, result.invoice_date, int(plan["amount"])
                )
            elif result.duplicate:  # an earlier try got through: read what it issued
                query = client.get_issue(relate_number=relate)
                exchanges.append(query.answer.exchange)
                if query.invoice is None:
                    raise InvoiceUnavailable(
                        "ECPay says the RelateNumber is used but cannot find its invoice"
                    )
                found = Issued(
                    query.invoice.invoice_no,
                    query.invoice.random_number,
                    query.invoice.invoice_date,
                    query.invoice.sales_amount,
                )
            else:
                refusal = result.answer.text
    except InvoiceUnavailable as exc:
        if exc.exchange is not None:
            exchanges.append(exc.exchange)
        throttled = isinstance(exc, InvoiceThrottled)
        with uow_factory() as uow:
            _store(uow.session, exchanges, invoice_id)
            waiting = uow.session.execute(
                text(
                    "UPDATE invoices SET ecpay_answer = :a, updated_at = now() + :later WHERE id = :id "
                    "AND status = 'PENDING' RETURNING payment_id"
                ),
                {
                    "a": str(exc)[:200],
                    "id": invoice_id,
                    "later": THROTTLE_BACKOFF if throttled else timedelta(0),
                },
            ).scalar()
            if waiting is not None:  # the delivered message goes now; the invoice's number follows on its own
                notify.release_settled(uow.session, int(waiting))
            uow.commit()
        if throttled:  # ECPay asks for 30 minutes: no retry before then; the reconciler's heal sends it later
            return Iv.PENDING
        raise
    if found is not None:
        return _finish_issued(uow_factory, invoice_id, found, exchanges, public_url, tries=0 if resume else 1)
    return _finish_refused(uow_factory, invoice_id, refusal, exchanges, public_url)


def _finish_void(uow_factory: Callable, invoice_id: int, exchanges: list[Exchange]) -> str:
    with uow_factory() as uow:
        _store(uow.session, exchanges, invoice_id)
        moved = (
            uow.session.connection()
            .execute(
                _invoice_move(Iv.VOID, (Iv.PENDING, Iv.FAILED)),
                {"id": invoice_id, "cause": "everything refunded before it was issued: nothing to invoice"},
            )
            .first()
        )
        if moved is not None:
            notify.release_settled(uow.session, int(moved.payment_id))  # the delivered message, held for it
        uow.commit()
    return Iv.VOID if moved else _status(uow_factory, invoice_id)


def _status(uow_factory: Callable, invoice_id: int) -> str:
    with uow_factory() as uow:
        return str(
            uow.session.connection()
            .execute(text("SELECT status FROM invoices WHERE id = :id"), {"id": invoice_id})
            .scalar()
        )


def _finish_issued(
    uow_factory: Callable,
    invoice_id: int,
    found: Issued,
    exchanges: list[Exchange],
    public_url: str,
    *,
    tries: int,
) -> str:
    """One transaction: the exchanges, PENDING|FAILED -> ISSUED, the customer's LINE message, and the adjustment
    of a refund confirmed while the request was on its way."""

    issued_at = _parse_date(found.invoice_date)
    with uow_factory() as uow:
        s = uow.session
        _store(s, exchanges, invoice_id)
        moved = execute(
            s,
            _issued_move(),
            {
                "id": invoice_id,
                "cause": f"ECPay issued {found.invoice_no}",
                "no": found.invoice_no,
                "rnd": found.random_number,
                "date": found.invoice_date[:20],
                "issued": found.amount,
                "at": issued_at,
                "answer": f"issued {found.invoice_no}",
                "tries": tries,
            },
        ).fetchone()
        if moved is None:  # another try settled it first: its exchanges are kept all the same
            uow.commit()
            return _status(uow_factory, invoice_id)
        kept = int(moved.amount_twd)
        if kept < found.amount:  # refunded while the Issue request was on its way
            _request_adjustment(
                s,
                moved,
                found.amount - kept,
                None,
                found.amount,
                0,
                0,
                issued_at,
                "refunded before the invoice was issued",
            )
        notify.queue_invoice(s, int(moved.payment_id))  # its own message, or said in the delivered one
        uow.commit()
    return Iv.ISSUED


INVOICE_MESSAGE = "invoice"  # the customer's LINE message kind (esa_domain.ordering.notify)


def _finish_refused(
    uow_factory: Callable, invoice_id: int, refusal: str, exchanges: list[Exchange], public_url: str
) -> str:
    with uow_factory() as uow:
        s = uow.session
        _store(s, exchanges, invoice_id)
        moved = (
            s.connection()
            .execute(
                _invoice_move(Iv.FAILED, (Iv.PENDING,), ", ecpay_answer = :answer, tries = t.tries + 1"),
                {"id": invoice_id, "cause": f"ECPay refused it: {refusal}"[:300], "answer": refusal[:200]},
            )
            .first()
        )
        if moved is not None:
            raise_alert(
                s,
                condition=INVOICE_REFUSED,
                payment_id=int(moved.payment_id),
                public_url=public_url,
                title=f"ECPay refused the e-invoice of order {moved.payment_id}",
                body=f"ECPay answered {refusal}. No invoice was issued: check the carrier with the customer, then "
                "send it again, to the corrected carrier or to none (invoicing.actions.retry_invoice; ECPay is "
                "asked first, it is never issued twice).",
                dedupe_key=f"{INVOICE_REFUSED}:invoice:{invoice_id}",
            )
            notify.release_settled(s, int(moved.payment_id))  # the delivered message, held for it
        uow.commit()
    return Iv.FAILED if moved is not None else _status(uow_factory, invoice_id)


# ---- adjustments: requested with the refund, sent by the worker --------------------------------------

_ADJUST = text(
    f"""
    WITH adj AS (
        INSERT INTO invoice_allowances (invoice_id, payment_id, refund_id, kind, reference, amount_twd, status,
            tries, created_at, updated_at)
        VALUES (:invoice, :payment, :refund, :kind, :reference, :amount, '{initial_state(ADJUSTMENT)}', 0, now(),
            now())
        ON CONFLICT DO NOTHING
        RETURNING id, invoice_id, payment_id
    ), {born(ADJUSTMENT, rows="adj", name="adj_history", cause=":cause", actor=f"'{ACTOR}'")}
    SELECT id FROM adj
    """  # noqa: S608 (constants only)
)


def _request_adjustment(
    s: Session, inv: Any, amount: int, refund_id: int | None, issued: int, allowed: int, open_: int,
    issued_at: datetime | None, cause: str, now: datetime | None = None,
) -> int | None:  # fmt: skip
    """Request the adjustment of `amount` on an issued invoice (`inv`: its id, payment_id, carrier_kind) and
    its outbox row: an invalidation when it takes the whole invoice and nothing else was allowed or asked for,
    the invoice is not donated and its period allows it; an allowance otherwise."""
    remain = issued - allowed - open_
    amount = min(amount, remain)
    if amount <= 0:
        return None
    whole = amount == issued and allowed == 0 and open_ == 0
    invalidate = (
        whole
        and inv.carrier_kind != "donation"
        and issued_at is not None
        and may_invalidate(issued_at, now or datetime.now(UTC))
    )
    kind = "invalidation" if invalidate else "allowance"
    reference = f"A{int(inv.id)}R{refund_id or 0}N{int(amount)}"[:30]
    adjustment_id = (
        s.connection()
        .execute(
            _ADJUST,
            {
                "invoice": int(inv.id),
                "payment": int(inv.payment_id),
                "refund": refund_id,
                "kind": kind,
                "reference": reference,
                "amount": amount,
                "cause": f"{kind} of NT${amount}: {cause}"[:300],
            },
        )
        .scalar()
    )
    if adjustment_id is not None:
        outbox.record(s, topics.ADJUST_INVOICE, {"adjustment_id": int(adjustment_id)})
    return adjustment_id


_LOCK_INVOICE = text(
    """
    SELECT i.id, i.payment_id, i.status, i.amount_twd, i.issued_twd, i.allowance_twd, i.carrier_kind, i.issued_at,
        coalesce((SELECT sum(a.amount_twd) FROM invoice_allowances a
                  WHERE a.invoice_id = i.id AND a.status <> 'DONE'), 0) AS open_twd
    FROM invoices i WHERE i.payment_id = :p FOR UPDATE
    """
)


# the undelivered items' share of the charge, as the invoice left it out (and payments.refunds.refund_amount
# refunds it): rounded up, at most the charge
_UNDELIVERED_SHARE = text(
    """
    SELECT least(p.amount_twd, (p.amount_twd * coalesce(sum(i.price_twd) FILTER (WHERE i.status = 'FAILED'), 0)::bigint
                                + greatest(p.subtotal_twd, 1) - 1) / greatest(p.subtotal_twd, 1))
    FROM payments p JOIN payment_items i ON i.payment_id = p.id WHERE p.id = :p GROUP BY p.id
    """
)


def on_refund_confirmed(session: Session, payment_id: int, refund_id: int | None, amount: int, purpose: str,
                        now: datetime | None = None) -> str:  # fmt: skip
    """The invoice adjustment of a refund, in the transaction confirming it (never a refund without it).
    `purpose` 'undelivered': the refund of what was not delivered (at most one per payment), which the invoice
    never carried: only what it gives back beyond that share is adjusted. Returns what was done: 'none' (no
    invoice, or nothing invoiced given back), 'lowered' (not issued yet: only what is kept will be),
    'allowance' / 'invalidation' (requested), or 'nothing_left'."""
    if purpose == "undelivered":
        share = int(session.connection().execute(_UNDELIVERED_SHARE, {"p": payment_id}).scalar() or 0)
        amount -= share
        if amount <= 0:
            return "none"  # the invoice covers only what was delivered
    inv = session.connection().execute(_LOCK_INVOICE, {"p": payment_id}).first()
    if inv is None or inv.status in (Iv.VOID, Iv.INVALIDATED):
        return "none"
    if inv.status in (Iv.PENDING, Iv.FAILED):
        session.execute(
            text(
                "UPDATE invoices SET amount_twd = greatest(amount_twd - :a, 0), updated_at = now() WHERE id = :id"
            ),
            {"a": amount, "id": inv.id},
        )
        # the issuing worker (or this message, if it has finished) issues what is kept, or nothing
        outbox.record(session, topics.ISSUE_INVOICE, {"invoice_id": int(inv.id)})
        return "lowered"
    adjustment_id = _request_adjustment(
        session,
        inv,
        amount,
        refund_id,
        int(inv.issued_twd or 0),
        int(inv.allowance_twd),
        int(inv.open_twd),
        inv.issued_at,
        f"refund #{refund_id} confirmed",
        now,
    )
    if adjustment_id is None:
        return "nothing_left"
    kind = (
        session.connection()
        .execute(text("SELECT kind FROM invoice_allowances WHERE id = :id"), {"id": adjustment_id})
        .scalar()
    )
    return str(kind)


# ---- the worker: adjust ------------------------------------------------------------------------------

_READ_ADJUSTMENT = text(
    """
    SELECT a.id, a.invoice_id, a.payment_id, a.kind, a.reference, a.amount_twd, a.status, i.invoice_no,
        i.invoice_date, i.relate_number, i.issued_twd, i.allowance_twd, p.merchant_trade_no,
        EXISTS (SELECT 1 FROM invoice_allowances e WHERE e.invoice_id = a.invoice_id AND e.id < a.id
                AND e.status = 'REQUESTED') AS earlier_open
    FROM invoice_allowances a JOIN invoices i ON i.id = a.invoice_id JOIN payments p ON p.id = a.payment_id
    WHERE a.id = :id
    """
)


class AdjustmentWaits(RuntimeError):
    """An earlier adjustment of the same invoice is still on its way: this one waits (the message is retried)."""


@lru_cache(maxsize=8)
def _adjustment_move(to: str, sources: tuple[str, ...], sets: str) -> TextClause:
    moved = move(
        ADJUSTMENT,
        to=to,
        from_=sources,
        where="t.id = :id",
        sets=sets,
        cause=":cause",
        actor=f"'{ACTOR}'",
        returning=", t.kind, t.amount_twd",
    )
    return text(f"WITH {moved} SELECT * FROM moved")  # noqa: S608 (constants only)


def adjust_invoice(
    uow_factory: Callable,
    client: EcpayInvoiceClient,
    adjustment_id: int,
    *,
    public_url: str = "",
    notify_email: str = "",
    sent_before: SentBefore = never_sent,
    resume: bool = False,
) -> str:
    """Send adjustment `adjustment_id` to ECPay (the ADJUST_INVOICE actor); returns its status. A retry asks
    GetIssue first. Raises InvoiceUnavailable (retried) or AdjustmentWaits (an earlier one is on its way)."""
    with uow_factory() as uow:
        a = uow.session.connection().execute(_READ_ADJUSTMENT, {"id": adjustment_id}).first()
    if a is None or a.status != Ad.REQUESTED:
        return str(a.status) if a is not None else "missing"
    if a.earlier_open:
        raise AdjustmentWaits(
            f"adjustment {adjustment_id} waits for an earlier one of invoice {a.invoice_id}"
        )
    amount, kind = int(a.amount_twd), str(a.kind)
    expected_remain = int(a.issued_twd) - int(a.allowance_twd)  # before this one
    exchanges: list[Exchange] = []
    try:
        done: dict[str, Any] | None = None
        if resume or sent_before(a.reference):
            query = client.get_issue(relate_number=a.relate_number)
            exchanges.append(query.answer.exchange)
            inv = query.invoice
            if inv is not None and kind == "invalidation" and inv.invalid:
                done = {"kind": kind}
            elif inv is not None and kind == "allowance" and inv.remain_allowance == expected_remain - amount:
                done = {"kind": kind, "allowance_no": None, "remain": inv.remain_allowance}
        refusal = ""
        if done is None and kind == "invalidation":
            answer = client.invalid(invoice_no=a.invoice_no, invoice_date=a.invoice_date, reason="refund")
            exchanges.append(answer.exchange)
            if answer.ok:
                done = {"kind": kind}
            else:  # out of its period, an allowance stands...: the refund is allowed instead
                kind = "allowance"
        if done is None and kind == "allowance":
            result = client.allowance(
                invoice_no=a.invoice_no,
                invoice_date=a.invoice_date,
                amount=amount,
                lines=(Line(f"Refund {a.merchant_trade_no}", amount, word=ITEM_WORD),),
                notify_email=notify_email,
            )
            exchanges.append(result.answer.exchange)
            if result.ok:
                done = {"kind": kind, "allowance_no": result.allowance_no, "remain": result.remain}
            else:
                refusal = result.answer.text
    except InvoiceUnavailable as exc:
        if exc.exchange is not None:
            exchanges.append(exc.exchange)
        throttled = isinstance(exc, InvoiceThrottled)
        with uow_factory() as uow:
            _store(uow.session, exchanges, int(a.invoice_id), adjustment_id)
            if throttled:  # ECPay asks for 30 minutes: the reconciler's heal sends it after them
                uow.session.execute(
                    text("UPDATE invoice_allowances SET updated_at = now() + :later WHERE id = :id"),
                    {"later": THROTTLE_BACKOFF, "id": adjustment_id},
                )
            uow.commit()
        if throttled:
            return Ad.REQUESTED
        raise
    with uow_factory() as uow:
        s = uow.session
        _store(s, exchanges, int(a.invoice_id), adjustment_id)
        if done is not None:
            moved = (
                s.connection()
                .execute(
                    _adjustment_move(
                        Ad.DONE,
                        (Ad.REQUESTED, Ad.FAILED),
                        ", kind = :kind, allowance_no = :no, remain_twd = :remain, finished_at = now(),"
                        " ecpay_answer = :answer, tries = t.tries + 1",
                    ),
                    {
                        "id": adjustment_id,
                        "kind": done["kind"],
                        "no": done.get("allowance_no"),
                        "remain": done.get("remain"),
                        "answer": f"{done['kind']} made"[:200],
                        "cause": f"ECPay made the {done['kind']} of NT${amount}",
                    },
                )
                .first()
            )
            if moved is not None:
                if done["kind"] == "invalidation":
                    s.connection().execute(
                        _invoice_move(Iv.INVALIDATED, (Iv.ISSUED,), ", invalidated_at = now()"),
                        {"id": int(a.invoice_id), "cause": f"invalidated at ECPay (refund of NT${amount})"},
                    )
                else:
                    s.execute(
                        text(
                            "UPDATE invoices SET allowance_twd = allowance_twd + :a, updated_at = now() WHERE id = :i"
                        ),
                        {"a": amount, "i": int(a.invoice_id)},
                    )
            uow.commit()
            return Ad.DONE
        moved = (
            s.connection()
            .execute(
                _adjustment_move(
                    Ad.FAILED, (Ad.REQUESTED,), ", kind = :kind, ecpay_answer = :answer, tries = t.tries + 1"
                ),
                {
                    "id": adjustment_id,
                    "kind": kind,
                    "answer": refusal[:200],
                    "cause": f"ECPay refused it: {refusal}"[:300],
                },
            )
            .first()
        )
        if moved is not None:
            raise_alert(
                s,
                condition=ADJUSTMENT_REFUSED,
                payment_id=int(a.payment_id),
                public_url=public_url,
                title=f"ECPay refused the invoice {kind} of NT${amount} on order {a.payment_id}",
                body=f"ECPay answered {refusal}. The refund was made; its invoice adjustment was not: make it in "
                "ECPay's back office.",
                dedupe_key=f"{ADJUSTMENT_REFUSED}:adjustment:{adjustment_id}",
            )
        uow.commit()
    return Ad.FAILED


# ---- heal and watch ----------------------------------------------------------------------------------

_LAGGING_INVOICES = text(
    "SELECT id FROM invoices WHERE status = 'PENDING' AND updated_at < :before ORDER BY id LIMIT :limit"
)
_LAGGING_ADJUSTMENTS = text(
    "SELECT id FROM invoice_allowances WHERE status = 'REQUESTED' AND updated_at < :before ORDER BY id LIMIT :limit"
)


def redispatch_lagging(session: Session, *, older_than: datetime, limit: int = 500) -> tuple[int, int]:
    """Queue the invoices and adjustments left unsent (a lost message, a worker killed mid-request) again, in
    resume mode (ECPay is asked first). Called by the reconciler; the caller commits."""
    invoices = [
        int(i)
        for (i,) in session.connection().execute(_LAGGING_INVOICES, {"before": older_than, "limit": limit})
    ]
    adjustments = [
        int(i)
        for (i,) in session.connection().execute(_LAGGING_ADJUSTMENTS, {"before": older_than, "limit": limit})
    ]
    for invoice_id in invoices:
        outbox.record(session, topics.ISSUE_INVOICE, {"invoice_id": invoice_id})
    for adjustment_id in adjustments:
        outbox.record(session, topics.ADJUST_INVOICE, {"adjustment_id": adjustment_id, "resume": True})
    if invoices or adjustments:
        session.execute(
            text("UPDATE invoices SET updated_at = now() WHERE id = ANY(:ids)"), {"ids": invoices}
        )
        session.execute(
            text("UPDATE invoice_allowances SET updated_at = now() WHERE id = ANY(:ids)"),
            {"ids": adjustments},
        )
    return len(invoices), len(adjustments)


_WATCH = text(
    """
    SELECT 'invoice' AS what, i.id, i.payment_id, i.status, i.amount_twd, i.ecpay_answer, i.created_at
    FROM invoices i
    WHERE i.status = 'FAILED' OR (i.status = 'PENDING' AND i.created_at < :before)
    UNION ALL
    SELECT a.kind, a.id, a.payment_id, a.status, a.amount_twd, a.ecpay_answer, a.created_at
    FROM invoice_allowances a
    WHERE a.status = 'FAILED' OR (a.status = 'REQUESTED' AND a.created_at < :before)
    ORDER BY 2
    LIMIT 500
    """
)


def check_invoices(session: Session, lag: timedelta, public_url: str, now: datetime) -> list[int]:
    """The watchdog: an invoice ECPay refused, or one not issued `lag` after its payment settled; the same for
    an invoice adjustment. Alerted once per invoice (or adjustment) and condition."""
    raised = []
    for r in session.connection().execute(_WATCH, {"before": now - lag}):
        failed = r.status == "FAILED"
        if r.what == "invoice":
            condition = INVOICE_REFUSED if failed else INVOICE_LAGGING
            title = (
                f"ECPay refused the e-invoice of order {r.payment_id}"
                if failed
                else f"The e-invoice of order {r.payment_id} is not issued yet"
            )
            body = (
                f"NT${r.amount_twd} to invoice; ECPay's last answer: {r.ecpay_answer or 'none'}. "
                "It is retried (asked about first, never issued twice); if ECPay keeps refusing, check the "
                "carrier and issue it in ECPay's back office."
            )
            key = f"{condition}:invoice:{r.id}"
        else:
            condition = ADJUSTMENT_REFUSED if failed else ADJUSTMENT_LAGGING
            title = (
                f"ECPay refused the invoice {r.what} of order {r.payment_id}"
                if failed
                else f"The invoice {r.what} of order {r.payment_id} is not made yet"
            )
            body = (
                f"NT${r.amount_twd} refunded; ECPay's last answer: {r.ecpay_answer or 'none'}. "
                "A refund must not stand without its invoice adjustment."
            )
            key = f"{condition}:adjustment:{r.id}"
        alert_id = raise_alert(
            session,
            condition=condition,
            title=title,
            body=body,
            public_url=public_url,
            payment_id=int(r.payment_id),
            dedupe_key=key,
        )
        if alert_id is not None:
            raised.append(alert_id)
    return raised
