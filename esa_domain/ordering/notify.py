"""LINE messages to the customer, one per outcome of an order (paid, delivered with what they received, partly
delivered, failed, refunded, an offline method's payment code), in the language they chose.

`queue` writes the message row (unique per order and kind: a step that runs twice writes it once) and its
outbox row in the caller's transaction, so it leaves only if the outcome committed, and leaves even if the
process dies right after. `deliver` pushes it with the message's own retry key: if an earlier try reached LINE
but its answer was lost, LINE answers 409 and the message is marked sent without a second one.

"Paid" is its own message only when delivery is slow. Most orders are delivered within seconds of the payment:
their one message says both (the payment received, and what was delivered), as top-up apps do, instead of two
pushes a second apart. An order still not settled PAID_ALONE_AFTER its payment hears "paid, on its way" from
`queue_paid_for_slow_orders` (the scheduler, every minute), once. This keeps a message's cost off the payment's
path: accepting a payment writes no message at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import TextClause, text
from sqlmodel import Session

from esa_domain.adapters.line.push import (
    PushOutcome,
    PushQuotaExhausted,
    PushRejected,
    PushUnavailable,
    TextPusher,
)
from esa_domain.core.states import MESSAGE, MessageStatus, PaymentStatus
from esa_domain.core.transitions import born, initial_state, move
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import UnitOfWork, execute, for_driver
from esa_domain.operations.alerts import raise_alert
from esa_domain.ordering import wording

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
PAID, DELIVERED, PARTIAL, FAILED, REFUNDED, PAYMENT_CODE, REMINDER = (
    "paid",
    "delivered",
    "partial",
    "failed",
    "refunded",
    "payment_code",
    "reminder",  # "reminder:<trade no>": an offline payment code about to lapse, sent only if still unpaid
)
QUEUED, SENT, NOT_SENT, SKIPPED = (str(s) for s in MessageStatus)  # core.states.MESSAGE
ACTOR = "system:notify"
INVOICE = "invoice"  # the order's e-invoice was issued (esa_domain.invoicing.issuing queues it)
REMIND_BEFORE = timedelta(hours=6)  # before an offline payment code's deadline
PAID_ALONE_AFTER = timedelta(
    seconds=20
)  # an order paid this long ago and still delivering hears "paid" alone
# a settled payment's message
SETTLED_KIND = {
    PaymentStatus.SUCCESS: DELIVERED,
    PaymentStatus.PARTIAL: PARTIAL,
    PaymentStatus.FAILED: FAILED,
}
TAIPEI = timezone(timedelta(hours=8))

# the message and its history row ("from nothing" to QUEUED) in one statement; nothing when it exists already
_QUEUE = text(
    f"""
    WITH queued AS (
        INSERT INTO customer_messages (customer_id, payment_id, kind, status, retry_key)
        SELECT customer_id, id, :kind, '{initial_state(MESSAGE)}', gen_random_uuid()::text
        FROM payments WHERE id = :payment
        ON CONFLICT (payment_id, kind) DO NOTHING
        RETURNING id, payment_id
    ), {born(MESSAGE, rows="queued", name="queued_history", cause="'outcome: ' || :kind", actor=f"'{ACTOR}'")}
    SELECT id FROM queued
    """  # noqa: S608 (constants only)
)
_QUEUE_D = for_driver(_QUEUE)  # statements of the per-order path go through the driver (infra.db.execute)
_RETRY_LATER = text("UPDATE customer_messages SET error = :e WHERE id = :id AND status = :queued")


@lru_cache(maxsize=8)
def _finish_sql(to: str) -> TextClause:
    moved = move(
        MESSAGE,
        to=to,
        from_=[MessageStatus.QUEUED],
        where="t.id = :id",
        sets=", error = :e" + (", sent_at = clock_timestamp()" if to == MessageStatus.SENT else ""),
        cause=":cause",
        actor=f"'{ACTOR}'",
    )
    return text(f"WITH {moved} SELECT to_status FROM moved")  # noqa: S608 (constants only)


@lru_cache(maxsize=8)
def _finish_driver(to: str) -> str:
    return for_driver(_finish_sql(to))


def queue(
    session: Session, payment_id: int, kind: str, *, at: datetime | None = None, held: bool = False
) -> int | None:
    """Write the `kind` message of the order and its outbox row in the caller's transaction; None when the
    order already has that message (a re-run of the same step). `at`: not before then (a reminder). `held`:
    no outbox row yet; `release_settled` writes it (the delivered message waits for the order's e-invoice)."""
    row = execute(session, _QUEUE_D, {"payment": payment_id, "kind": kind[:40]}).fetchone()
    if row is None:
        return None
    message_id = row.id
    if not held:
        outbox.record(session, topics.NOTIFY_CUSTOMER, {"message_id": int(message_id)}, available_at=at)
    return int(message_id)


def queue_settled(session: Session, payment_id: int, status: str, *, held: bool = False) -> None:
    """The message for how a payment settled (delivered, partly, or not at all). `held`: the order has an
    e-invoice to issue, and the message waits for it (see `release_settled`)."""
    kind = SETTLED_KIND.get(PaymentStatus(status))
    if kind is not None:
        queue(session, payment_id, kind, held=held and kind in (DELIVERED, PARTIAL))


# a held message the invoice's worker never released: the sweeper sends it this long after the settlement
HELD_AT_MOST = timedelta(minutes=2)


_SLOW_PAID = text(
    """
    SELECT p.id FROM payments p
    WHERE p.status = 'PAID' AND p.paid_at < :before
      AND NOT EXISTS (SELECT 1 FROM customer_messages m WHERE m.payment_id = p.id AND m.kind = 'paid')
    ORDER BY p.paid_at LIMIT :limit
    """
)


def queue_paid_for_slow_orders(
    session: Session, *, now: datetime | None = None, after: timedelta = PAID_ALONE_AFTER, limit: int = 500
) -> int:
    """Queue "paid, on its way" for orders paid more than `after` ago and not settled yet (a supplier that is
    slow or pending): the customer knows the money arrived. Idempotent (one "paid" per order, by its unique
    index); the order's settled message then follows as usual. Returns how many were queued."""
    before = (now or datetime.now(UTC)) - after
    ids = [int(i) for (i,) in session.connection().execute(_SLOW_PAID, {"before": before, "limit": limit})]
    return sum(1 for payment_id in ids if queue(session, payment_id, PAID) is not None)


_SETTLED_WAITING = text(
    "SELECT id FROM customer_messages WHERE payment_id = :p AND kind IN ('delivered', 'partial') "
    "AND status = 'QUEUED'"
)
# The lock is taken whatever the invoice's status and the status read after it: a filter on the status would
# judge the row as the statement's snapshot saw it (not issued yet) and never wait for the transaction issuing it.
_INVOICE_ISSUED = text(
    "SELECT i.payment_id, i.status FROM customer_messages m JOIN invoices i ON i.payment_id = m.payment_id "
    "WHERE m.id = :m FOR SHARE OF i"
)


_SETTLED_WAITING_D = for_driver(_SETTLED_WAITING)


def queue_invoice(session: Session, payment_id: int) -> int | None:
    """The order's e-invoice was issued (in this transaction, its invoice row locked by the move): its own
    message, unless the order's delivered message is still to be sent, which then says it (and is released
    now, if it was held for the invoice). Whichever of the two transactions commits second sees the other (the
    delivered message's finish locks the invoice row FOR SHARE before it decides), so the customer reads the
    number once, in one or the other."""
    if release_settled(session, payment_id):
        return None
    return queue(session, payment_id, INVOICE)


def release_settled(session: Session, payment_id: int) -> bool:
    """The order's e-invoice has its outcome (issued, refused, nothing to issue, or ECPay out of reach for now):
    the delivered message that waited for it leaves (its outbox row, in the caller's transaction), saying the
    invoice when it was issued. One message for delivery and invoice, in the usual case; never a delivered
    message held behind an invoice that cannot be issued now. True when the order's settled message is still
    to be sent (an outbox row for one already released is one more try of the same message: harmless)."""
    row = execute(session, _SETTLED_WAITING_D, {"p": payment_id}).fetchone()
    if row is None:
        return False
    outbox.record(session, topics.NOTIFY_CUSTOMER, {"message_id": int(row.id)})
    return True


_HELD = text(
    """
    UPDATE customer_messages SET error = :note
    WHERE id IN (
        SELECT id FROM customer_messages
        WHERE status = 'QUEUED' AND created_at < :before AND error IS NULL AND kind IN ('delivered', 'partial')
        ORDER BY created_at LIMIT :limit
    )
    RETURNING id
    """
)


def release_held_messages(
    session: Session, *, now: datetime | None = None, after: timedelta = HELD_AT_MOST, limit: int = 500
) -> int:
    """The safety net of `release_settled` (the scheduler's minute tick): delivered messages still queued
    `after` their order settled, never tried, are sent (a worker died between the settlement and the invoice,
    whose own heal is slower). Each is noted, so the next tick leaves it alone. Returns how many."""
    before = (now or datetime.now(UTC)) - after
    note = "sent by the sweeper: its e-invoice had not released it"
    ids = [
        int(i)
        for (i,) in session.connection().execute(_HELD, {"before": before, "limit": limit, "note": note})
    ]
    for message_id in ids:
        outbox.record(session, topics.NOTIFY_CUSTOMER, {"message_id": message_id})
    return len(ids)


def _invoice_after(message_id: int) -> Callable[[Session], None]:
    """In the finishing transaction of a delivered message that did not carry the invoice: the invoice's own
    message if it was issued meanwhile."""

    def then(session: Session) -> None:
        invoice = session.connection().execute(_INVOICE_ISSUED, {"m": message_id}).first()
        if invoice is not None and invoice.status == "ISSUED":
            queue(session, int(invoice.payment_id), INVOICE)

    return then


# ---- composing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Order:
    id: int
    amount_twd: int
    payment_method: str | None
    refunded_twd: int
    line_user_id: str
    language: str


# the order's items with their failure reasons and what was delivered (sealed fields opened in Python)
_ITEMS = text(
    """
    SELECT i.id, i.status, i.target, i.zone, i.artifact, i.price_twd, p.name AS product,
        (SELECT a.failure_class FROM item_attempts a WHERE a.item_id = i.id
         ORDER BY a.id DESC LIMIT 1) AS failure_class,
        d.item_id AS delivered, d.serial, d.token, d.customer_name, d.tariff, d.kwh, d.pin_enc, d.voucher_code_enc
    FROM payment_items i JOIN products p ON p.id = i.product_id
    LEFT JOIN item_deliveries d ON d.item_id = i.id
    WHERE i.payment_id = :p ORDER BY i.id
    """
)


_ITEMS_D = for_driver(_ITEMS)


def _items(s: Session, payment_id: int) -> list:  # type: ignore[type-arg]
    return execute(s, _ITEMS_D, {"p": payment_id}).fetchall()


def _refund_due(items: list) -> int:  # type: ignore[type-arg]
    """What goes back for the items not delivered."""
    return sum(int(i.price_twd) for i in items if i.status == "FAILED")


def _delivery_lines(d, item, language: str) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """(lines that describe what was delivered (`d`: its Delivery, or None), values to copy one by one)."""
    fields = d.as_dict() if d is not None else {}
    if not any(fields.values()) and item.artifact:
        fields = {"serial": item.artifact}
    lines, copies = [], []
    for key in ("token", "voucher_code", "pin", "serial", "customer_name", "tariff", "kwh"):
        value = fields.get(key)
        if value:
            lines.append(f"{wording.label(key, language)}: {value}")
            if key in ("token", "voucher_code", "pin", "serial"):
                copies.append(str(value))
    return lines, copies


# the message, its order and customer in one read; whether an earlier message of the order still waits, and
# whether "paid" was told on its own (else the settled message says it)
_MESSAGE = text(
    """
    SELECT m.status, m.retry_key, m.kind, p.id, p.amount_twd, p.payment_method, p.refunded_twd,
        c.line_user_id, c.language,
        EXISTS (SELECT 1 FROM customer_messages e WHERE e.payment_id = m.payment_id AND e.id < m.id
                AND e.status = 'QUEUED') AS earlier_waiting,
        EXISTS (SELECT 1 FROM customer_messages e WHERE e.payment_id = m.payment_id
                AND e.kind = 'paid' AND e.status IN ('QUEUED', 'SENT')) AS paid_told,
        iv.invoice_no, iv.random_number, coalesce(iv.issued_twd, iv.amount_twd) AS invoice_amount,
        iv.carrier_kind AS invoice_carrier_kind, iv.carrier_value AS invoice_carrier_value
    FROM customer_messages m JOIN payments p ON p.id = m.payment_id
    JOIN customers c ON c.id = m.customer_id
    LEFT JOIN invoices iv ON iv.payment_id = m.payment_id AND iv.status = 'ISSUED'
    WHERE m.id = :id
    """
)


_MESSAGE_D = for_driver(_MESSAGE)


def _read(s: Session, message_id: int):  # type: ignore[no-untyped-def]
    return execute(s, _MESSAGE_D, {"id": message_id}).fetchone()


def compose(s: Session, message_id: int, public_url: str, row=None) -> tuple[str, list[str]] | None:  # type: ignore[no-untyped-def]
    """(LINE user id, texts) of a message; None when the message or its customer is gone. `row`: the
    message as `_read` gave it, when the caller has it already."""
    composed = _compose(s, message_id, public_url, row)
    return None if composed is None else (composed[0], composed[1])


def _compose(s: Session, message_id: int, public_url: str, row=None) -> tuple[str, list[str], bool] | None:  # type: ignore[no-untyped-def]
    """`compose`, and whether the texts carry the order's e-invoice (a delivered order's message does when the
    invoice was issued before it was composed: the customer then gets no separate invoice message)."""
    from esa_domain.fulfillment.delivery import opened_delivery

    row = row if row is not None else _read(s, message_id)
    if row is None:
        return None
    carried = False
    kind = row.kind
    o = _Order(row.id, row.amount_twd, row.payment_method, row.refunded_twd, row.line_user_id, row.language)
    lang = wording.language_of(o.language)
    link = wording.message("open", lang, link=f"{public_url.rstrip('/')}/app/#order={o.id}")
    texts: list[str] = []
    if kind == PAID:
        texts.append(wording.message(PAID, lang, amount=o.amount_twd, order=o.id))
    elif kind in (DELIVERED, PARTIAL):
        items = _items(s, o.id)
        parts = [wording.message(kind, lang, order=o.id, refund=_refund_due(items))]
        copies: list[str] = []
        for item in items:
            head = f"• {item.product} → {item.target}{f' ({item.zone})' if item.zone else ''}"
            if item.status == "SUCCESS":
                delivery = opened_delivery(item.id, item) if item.delivered is not None else None
                lines, values = _delivery_lines(delivery, item, lang)
                parts.append("\n".join([head, *lines]))
                copies += values
            elif item.status == "FAILED":
                parts.append(f"{head}\n{wording.failure_reason(item.failure_class, lang)}")
        if kind == PARTIAL:
            parts.append(wording.refund_when(o.payment_method, lang))
        invoice = _invoice_texts(o, lang, row)
        if invoice:  # issued already (the worker issues it just before this message): said here, not apart
            parts.append(invoice[0])
            carried = True
        texts = ["\n\n".join(parts), *copies[:3]]
    elif kind == FAILED:
        items = _items(s, o.id)
        parts = [wording.message(FAILED, lang, order=o.id, refund=_refund_due(items))]
        for item in items:
            parts.append(
                f"• {item.product} → {item.target}\n{wording.failure_reason(item.failure_class, lang)}"
            )
        parts.append(wording.refund_when(o.payment_method, lang))
        texts.append("\n\n".join(parts))
    elif kind.startswith(REFUNDED):  # "refunded:<refund id>": one message per refund confirmed
        refund_id = kind.partition(":")[2]
        amount = None
        if refund_id.isdigit():
            amount = (
                s.connection()
                .execute(text("SELECT amount_twd FROM refunds WHERE id = :id"), {"id": int(refund_id)})
                .scalar()
            )
        parts = [wording.message(REFUNDED, lang, order=o.id, refund=amount or o.refunded_twd)]
        for item in _items(s, o.id):
            if item.status == "FAILED":
                parts.append(
                    f"• {item.product} → {item.target}\n{wording.failure_reason(item.failure_class, lang)}"
                )
        parts.append(wording.refund_when(o.payment_method, lang))
        texts.append("\n\n".join(parts))
    elif kind == INVOICE:  # the order's e-invoice, issued at ECPay (issue 19): its number and random code
        texts = _invoice_texts(o, lang, row)
    elif kind.startswith(PAYMENT_CODE):
        texts = _payment_code_texts(s, o, kind.partition(":")[2], lang)
    elif kind.startswith(REMINDER):
        texts = _reminder_texts(s, o, kind.partition(":")[2], lang)
    else:
        return None
    if texts and kind in (DELIVERED, PARTIAL, FAILED) and not row.paid_told:
        # delivered (or not) within seconds of the payment: this one message also says the money arrived
        texts[0] = f"{wording.message('received', lang, amount=o.amount_twd)} {texts[0]}"
    if texts:
        texts[0] = f"{texts[0]}\n\n{link}"
    return o.line_user_id, texts, carried


def _invoice_texts(o: _Order, lang: str, row) -> list[str]:  # type: ignore[no-untyped-def]
    """The invoice's number, random code, amount and where it went, from the message's own read (`_read`
    joins the issued invoice); nothing (skipped) if it is not issued."""
    if row.invoice_no is None:
        return []
    head = wording.message(
        INVOICE, lang, order=o.id, number=row.invoice_no, code=row.random_number, amount=row.invoice_amount
    )
    where = wording.message(
        f"invoice_{row.invoice_carrier_kind}", lang, value=row.invoice_carrier_value or ""
    )
    return [f"{head}\n{where}"]


def _reminder_texts(s: Session, o: _Order, trade_no: str, lang: str) -> list[str]:
    """The code again, if the order still waits for it; nothing (the reminder is skipped) once paid or lapsed."""
    waiting = (
        s.connection()
        .execute(
            text(
                "SELECT c.pay_by FROM payments p JOIN payment_checkouts c ON c.payment_id = p.id "
                "WHERE p.id = :p AND c.merchant_trade_no = :t AND p.status = 'PENDING' AND c.pay_by > now()"
            ),
            {"p": o.id, "t": trade_no},
        )
        .first()
    )
    if waiting is None:
        return []
    texts = _payment_code_texts(s, o, trade_no, lang)
    pay_by = waiting.pay_by.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M")
    if texts:
        texts[0] = wording.message(REMINDER, lang, order=o.id, pay_by=pay_by) + "\n\n" + texts[0]
    return texts


def _payment_code_texts(s: Session, o: _Order, trade_no: str, lang: str) -> list[str]:
    c = (
        s.connection()
        .execute(
            text(
                "SELECT payment_type, bank_code, v_account, payment_no, barcode1, barcode2, barcode3, "
                "info_amount_twd, pay_by FROM payment_checkouts WHERE merchant_trade_no = :t"
            ),
            {"t": trade_no},
        )
        .first()
    )
    if c is None:
        return []
    pay_by = c.pay_by.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M") if c.pay_by else "-"
    head = wording.message(
        PAYMENT_CODE,
        lang,
        order=o.id,
        amount=c.info_amount_twd or o.amount_twd,
        method=wording.payment_code_title(c.payment_type, lang),
        pay_by=pay_by,
    )
    lines, copies = [head], []
    if c.v_account:
        lines += [
            f"{wording.label('bank', lang)}: {c.bank_code}",
            f"{wording.label('account', lang)}: {c.v_account}",
        ]
        copies.append(c.v_account)
    if c.payment_no:
        lines.append(f"{wording.label('code', lang)}: {c.payment_no}")
        copies.append(c.payment_no)
    barcodes = [b for b in (c.barcode1, c.barcode2, c.barcode3) if b]
    if barcodes:
        lines.append(f"{wording.label('barcode', lang)}: {' / '.join(barcodes)}")
    return ["\n".join(lines), *copies]


# ---- delivering ---------------------------------------------------------------------------------------


def _finish(
    uow_factory: UowFactory,
    message_id: int,
    status: str,
    error: str | None,
    then: Callable[[Session], None] | None = None,
) -> str:
    """QUEUED -> `status` (compare-and-set, with its history row); a concurrent try that finished it first
    wins. `status` QUEUED only notes why it waits (no move). Returns the status it has now. `then`: what else
    the move's transaction writes when this call made the move."""
    error = error[:300] if error else None
    with uow_factory() as uow:
        conn = uow.session.connection()
        if status == QUEUED:
            conn.execute(_RETRY_LATER, {"e": error, "id": message_id, "queued": QUEUED})
        else:
            cause = {SENT: "LINE accepted it", SKIPPED: "nothing to say any more"}.get(
                status, "LINE refused it"
            )
            done = execute(
                uow.session, _finish_driver(status), {"id": message_id, "e": error, "cause": cause}
            )
            moved = (done.fetchone() or (None,))[0]
            if moved is not None:  # the usual case: the move says where it is now
                if then is not None:
                    then(uow.session)
                uow.commit()
                return str(moved)
        now = conn.execute(text("SELECT status FROM customer_messages WHERE id = :id"), {"id": message_id})
        uow.commit()
        return str(now.scalar_one())


QUOTA_NOTE = "LINE's monthly message limit is used up: the customer reads it on the order page"


def _quota_exhausted(uow_factory: UowFactory, message_id: int, why: str, public_url: str) -> str:
    """No push gets through this month: the message is given up (the order page shows the same), and the
    operators hear it once a month (a bigger plan, or wait for the month to turn)."""
    status = _finish(uow_factory, message_id, NOT_SENT, f"{QUOTA_NOTE} ({why})")
    month = datetime.now(TAIPEI).strftime("%Y-%m")
    with uow_factory() as uow:
        sent = (
            uow.session.connection()
            .execute(
                text(
                    "SELECT count(*) FROM customer_messages WHERE status = 'SENT' "
                    "AND sent_at >= date_trunc('month', now() AT TIME ZONE 'Asia/Taipei') AT TIME ZONE 'Asia/Taipei'"
                )
            )
            .scalar_one()
        )
        raise_alert(
            uow.session,
            condition="line_quota",
            dedupe_key=f"line_quota:{month}",
            public_url=public_url,
            title="LINE's monthly message limit is used up",
            body=f"LINE refused a customer message: {why}. {sent} customer messages were sent in {month}. "
            "Customers still see every outcome on their order page; raise the LINE plan's limit to resume "
            "messages this month.",
        )
        uow.commit()
    return status


def deliver(uow_factory: UowFactory, message_id: int, pusher: TextPusher, public_url: str) -> str:
    """Push one queued customer message; its status afterwards ("sent", "failed" or "queued").

    The order's earlier messages still queued go first (a customer reads "paid" before "delivered", whichever
    worker got which message first; a message pushed twice this way is one message at LINE, by its retry key).
    Raises PushUnavailable (after recording it) when LINE could not take it now, so the actor retries with the
    same retry key. A message already sent, or refused for good, is left alone.

    In the usual case (nothing earlier waits) one statement reads the message, its order and customer and
    whether anything earlier waits; the items and their deliveries are one more each; the finishing move is
    one statement that answers the new status."""
    with uow_factory() as uow:
        s = uow.session
        row = _read(s, message_id)
        earlier = []
        if row is not None and row.earlier_waiting:
            earlier = [
                int(i)
                for (i,) in s.connection().execute(
                    text(
                        "SELECT e.id FROM customer_messages m JOIN customer_messages e "
                        "ON e.payment_id = m.payment_id "
                        "WHERE m.id = :id AND e.id < m.id AND e.status = 'QUEUED' ORDER BY e.id"
                    ),
                    {"id": message_id},
                )
            ]
        if not earlier:
            loaded = _loaded(s, message_id, public_url, row)
            uow.rollback()  # the read's transaction ends; its connection stays for the finishing move
            return _push(lambda: _Reused(uow), message_id, loaded, pusher, public_url)  # type: ignore[arg-type,return-value]
    for other in earlier:
        _deliver_one(uow_factory, other, pusher, public_url)
    return _deliver_one(uow_factory, message_id, pusher, public_url)


class _Reused:
    """A unit of work already open, used again for one more transaction: the message's finishing move takes the
    connection its read used (held, outside any transaction, while LINE answers) instead of checking out
    another; leaving rolls back whatever was not committed and keeps the connection for its owner to close."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def __enter__(self) -> UnitOfWork:
        return self.uow

    def __exit__(self, *exc: object) -> None:
        self.uow.rollback()


# (status, retry key, composed (user, texts, carries the invoice), kind)
_Loaded = tuple[str, str | None, tuple[str, list[str], bool] | None, str | None]


def _loaded(s: Session, message_id: int, public_url: str, row=None) -> _Loaded:  # type: ignore[no-untyped-def]
    row = row if row is not None else _read(s, message_id)
    if row is None or row.status != QUEUED:
        return (row.status if row else "missing", None, None, None)
    return (QUEUED, row.retry_key, _compose(s, message_id, public_url, row), row.kind)


def _deliver_one(uow_factory: UowFactory, message_id: int, pusher: TextPusher, public_url: str) -> str:
    with uow_factory() as uow:
        loaded = _loaded(uow.session, message_id, public_url)
    return _push(uow_factory, message_id, loaded, pusher, public_url)


def _push(
    uow_factory: UowFactory, message_id: int, loaded: _Loaded, pusher: TextPusher, public_url: str
) -> str:
    status, retry_key, composed, kind = loaded
    if status != QUEUED:
        return status
    if not composed or not composed[1]:
        # a reminder for an order paid (or lapsed) meanwhile is not sent: there is nothing to remind of
        return _finish(
            uow_factory, message_id, SKIPPED, "nothing to say any more (a reminder for a paid order)"
        )
    to, texts, carried = composed
    try:
        outcome = pusher.push_texts(to, texts, retry_key=str(retry_key))
    except PushUnavailable as exc:
        _finish(uow_factory, message_id, QUEUED, f"will retry: {exc}")
        raise
    except PushQuotaExhausted as exc:
        return _quota_exhausted(uow_factory, message_id, str(exc), public_url)
    except PushRejected as exc:
        log.warning("LINE refused customer message %s: %s", message_id, exc)
        return _finish(uow_factory, message_id, NOT_SENT, str(exc))
    note = "LINE had accepted an earlier try (409)" if outcome is PushOutcome.ALREADY_ACCEPTED else None
    then = None
    if kind in (DELIVERED, PARTIAL) and not carried:  # the invoice, if issued meanwhile, gets its own message
        then = _invoice_after(message_id)
    return _finish(uow_factory, message_id, SENT, note, then)
