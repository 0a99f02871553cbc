"""Accepting payments: one code path for ECPay's notifications and for its query answers.

A notification is stored as received first (its own commit), so even a rejected or crashing one stays on
record. Then, in one transaction: PENDING -> PAID (compare-and-set), one `fulfill_item` outbox row per item,
and the event's outcome. A duplicate finds the payment already PAID and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlmodel import Session

from esa_domain.adapters.ecpay import (
    ACK,
    EcpayClient,
    EcpayError,
    EcpayThrottled,
    Notification,
    Rejection,
    TradeQueryResult,
    nack,
    parse_notification,
    redact,
)
from esa_domain.core.states import PAYMENT, PaymentStatus
from esa_domain.core.transitions import Applied, move, transition_payment
from esa_domain.infra import outbox, topics
from esa_domain.infra.bounded import bounded
from esa_domain.infra.db import UnitOfWork, driver, for_driver
from esa_domain.infra.evidence import storable
from esa_domain.models import GatewayEvent, Payment
from esa_domain.operations.alerts import raise_alert
from esa_domain.ordering.promo_release import release_promo_use
from esa_domain.payments.checkout import record_not_paid
from esa_domain.payments.second_payment import refund_second_payment

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]

OFFLINE_METHODS = ("ATM", "CVS", "BARCODE")  # settle a day or more later: wait for the notification
OFFLINE_GRACE = timedelta(days=3)


@dataclass(frozen=True)
class EcpayConfig:
    merchant_id: str
    hash_key: str
    hash_iv: str
    base_url: str
    public_url: str  # ours, for alert links
    allow_simulated_paid: bool = False  # only an explicit sandbox setting may ship on SimulatePaid=1
    credit_check_code: str = ""  # CreditCheckCode for CreditDetail/QueryTrade/V2 (refunds' resume)

    @classmethod
    def from_settings(cls, settings) -> EcpayConfig:  # type: ignore[no-untyped-def]
        return cls(
            merchant_id=settings.ecpay_merchant_id,
            hash_key=settings.ecpay_hash_key.get_secret_value(),
            hash_iv=settings.ecpay_hash_iv.get_secret_value(),
            base_url=settings.ecpay_base_url,
            public_url=settings.public_url,
            allow_simulated_paid=settings.ecpay_allow_simulated_paid,
            credit_check_code=settings.ecpay_credit_check_code,
        )

    def client(self, **kw) -> EcpayClient:  # type: ignore[no-untyped-def]
        return EcpayClient(self.base_url, self.merchant_id, self.hash_key, self.hash_iv, **kw)


class Verdict(StrEnum):
    ACCEPTED = "accepted"  # PENDING -> PAID now, fulfillment queued
    DUPLICATE = "duplicate"  # already accepted earlier: nothing changed
    NOT_PAID = "not paid"  # a valid notice of a failed/unpaid attempt
    EXPIRED = "expired"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class GatewayReply:
    verdict: Verdict
    body: str  # what ECPay receives: "1|OK" once durably handled, "0|<reason>" otherwise
    status_code: int
    payment_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class PaymentEvidence:
    """What ECPay said about a trade, from a notification or a query, in one shape."""

    merchant_trade_no: str
    trade_no: str
    paid: bool
    simulated: bool
    amount_twd: int | None
    payment_type: str
    source: str  # "notification" | "query"
    rtn_code: int | None = None  # a notification's RtnCode (10100058: a declined card)
    rtn_msg: str = ""

    @classmethod
    def of_notification(cls, n: Notification, rtn_msg: str = "") -> PaymentEvidence:
        return cls(
            n.merchant_trade_no,
            n.trade_no,
            n.paid,
            n.simulated,
            n.amount_twd,
            n.payment_type,
            "notification",
            n.rtn_code,
            rtn_msg,
        )

    @classmethod
    def of_query(cls, r: TradeQueryResult) -> PaymentEvidence:
        return cls(
            r.merchant_trade_no, r.trade_no, r.status == "paid", False, r.amount_twd, r.payment_type, "query"
        )


_STORE_EVENT = (
    "INSERT INTO gateway_events (kind, merchant_trade_no, fields, verified, outcome, remote_addr) "
    "VALUES (%(kind)s, %(trade_no)s, %(fields)s, false, 'received', %(remote_addr)s) RETURNING id"
)
_SETTLE_EVENT = (
    "UPDATE gateway_events SET outcome = %(outcome)s, verified = %(verified)s, payment_id = %(payment_id)s "
    "WHERE id = %(id)s"
)


# the columns' sizes: an unsigned post may send anything longer
TRADE_NO_COLUMN: int = GatewayEvent.__table__.c.merchant_trade_no.type.length  # type: ignore[attr-defined]
REMOTE_ADDR_COLUMN: int = GatewayEvent.__table__.c.remote_addr.type.length  # type: ignore[attr-defined]


def _store_received(session: Session, kind: str, fields: Mapping[str, str], remote_addr: str | None) -> int:
    # not verified yet: whatever was posted is kept, but bounded (columns' sizes, clipped fields, capped document)
    trade_no = storable(fields.get("MerchantTradeNo") or None)
    params = {
        "kind": kind,
        "trade_no": trade_no[:TRADE_NO_COLUMN] if trade_no else None,
        "fields": Jsonb(storable(bounded(redact(fields)))),
        "remote_addr": remote_addr[:REMOTE_ADDR_COLUMN] if remote_addr else None,
    }
    row = driver(session).execute(_STORE_EVENT, params).fetchone()
    assert row is not None
    return int(row[0])


def _settle_event(
    session: Session, event_id: int, outcome: str, verified: bool, payment_id: int | None
) -> None:
    params = {"id": event_id, "outcome": outcome[:200], "verified": verified, "payment_id": payment_id}
    driver(session).execute(_SETTLE_EVENT, params)


def handle_notification(
    uow_factory: UowFactory,
    fields: Mapping[str, str],
    config: EcpayConfig,
    *,
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> GatewayReply:
    """Handle one ReturnURL notification end to end; the reply says what to answer ECPay.

    `uow_factory()` returns a fresh UnitOfWork (with the publisher that dispatches after commit).
    """
    now = now or datetime.now(UTC)
    with uow_factory() as uow:
        # on record first. The event and its outcome commit together (one WAL flush per notification, not
        # two); if handling it fails, the work is rolled back to the savepoint and the event is kept with the
        # error. Only the death of the process loses the row, and then nothing was acknowledged: ECPay re-sends.
        event_id = _store_received(uow.session, "notification", fields, remote_addr)
        raw = driver(uow.session)
        raw.execute("SAVEPOINT notification")
        try:
            reply = _handle_verified(uow.session, event_id, fields, config, now)
        except Exception as exc:
            try:
                raw.execute("ROLLBACK TO SAVEPOINT notification")
                uow.forget_outbox()
                _settle_event(uow.session, event_id, f"error: {type(exc).__name__}", False, None)
                uow.commit()
            except Exception:
                log.warning("the notification's event row could not be kept either", exc_info=True)
            raise
        uow.commit()
        if reply.verdict is Verdict.REJECTED and reply.payment_id is None:
            log.warning("ECPay notification rejected: %.200s", reply.reason)  # may quote what was sent
        return reply


def _handle_verified(
    session: Session, event_id: int, fields: Mapping[str, str], config: EcpayConfig, now: datetime
) -> GatewayReply:
    parsed = parse_notification(
        fields, merchant_id=config.merchant_id, hash_key=config.hash_key, hash_iv=config.hash_iv
    )
    if isinstance(parsed, Rejection):
        _settle_event(session, event_id, f"rejected: {parsed.reason}", False, None)
        return GatewayReply(Verdict.REJECTED, nack(parsed.reason), 400, reason=parsed.reason)
    evidence = PaymentEvidence.of_notification(parsed, fields.get("RtnMsg", ""))
    reply = _accept_at_once(session, evidence, config, event_id, now)
    if reply is not None:  # the common case, settled in one statement
        return reply
    reply = apply_evidence(session, evidence, config, now=now)
    outcome = f"{reply.verdict}: {reply.reason}" if reply.reason else str(reply.verdict)
    _settle_event(session, event_id, outcome, True, reply.payment_id)  # the MAC verified
    return reply


def apply_evidence(
    session: Session, ev: PaymentEvidence, config: EcpayConfig, *, now: datetime
) -> GatewayReply:
    """Apply verified evidence about a trade inside the caller's transaction (notification and query alike)."""
    payment = (
        driver(session)
        .cursor(row_factory=namedtuple_row)
        .execute(_PAYMENT_BY_TRADE_NO, {"trade_no": ev.merchant_trade_no})
        .fetchone()
    )
    if payment is None:
        reason = f"unknown MerchantTradeNo {ev.merchant_trade_no}"
        return GatewayReply(Verdict.REJECTED, nack(reason), 400, None, reason)
    pid = payment.id
    if not ev.paid:
        if ev.rtn_code is not None:  # kept on the hand-off, so the customer sees why and can pay again
            record_not_paid(session, ev.merchant_trade_no, ev.rtn_code, ev.rtn_msg)
        return GatewayReply(Verdict.NOT_PAID, ACK, 200, pid, "")
    if ev.amount_twd != payment.amount_twd:
        reason = f"amount NT${ev.amount_twd} differs from the order's NT${payment.amount_twd}"
        raise_alert(
            session,
            condition="amount_mismatch",
            payment_id=pid,
            public_url=config.public_url,
            title=f"ECPay amount mismatch on order {pid}",
            body=f"ECPay reports {ev.source} paid NT${ev.amount_twd} for {ev.merchant_trade_no}, the order is "
            f"NT${payment.amount_twd}. Not shipped; check the trade in ECPay's back office.",
        )
        return GatewayReply(Verdict.REJECTED, nack("amount mismatch"), 400, pid, reason)
    if ev.simulated and not config.allow_simulated_paid:
        reason = "SimulatePaid=1: a simulation from ECPay's dashboard, no money moved; not shipped"
        raise_alert(
            session,
            condition="simulated_paid",
            payment_id=pid,
            public_url=config.public_url,
            title=f"Simulated ECPay payment on order {pid}",
            body=f"A SimulatePaid=1 notification arrived for {ev.merchant_trade_no}. Nothing was shipped.",
        )
        return GatewayReply(Verdict.REJECTED, ACK, 200, pid, reason)  # acknowledged so ECPay stops re-sending
    return _accept(session, payment, ev, now, config.public_url)


# any hand-off's trade number finds its order: the latest (payments) or an earlier one (payment_checkouts)
_PAYMENT_BY_TRADE_NO = (
    "SELECT id, amount_twd, status, merchant_trade_no, ecpay_trade_no FROM payments WHERE id = ("
    "SELECT p.id FROM payments p WHERE p.merchant_trade_no = %(trade_no)s UNION ALL "
    "SELECT c.payment_id FROM payment_checkouts c WHERE c.merchant_trade_no = %(trade_no)s LIMIT 1)"
)
# one fulfill_item outbox row per item of the payment, in item order
_FULFIL_ITEMS = (
    "INSERT INTO outbox (topic, payload, dispatch_attempts) "
    "SELECT %(topic)s, jsonb_build_object('item_id', id), 0 FROM payment_items "
    "WHERE payment_id = %(payment_id)s ORDER BY id RETURNING id, payload"
)


def _paid_cause(ev: PaymentEvidence) -> str:
    method = ev.payment_type or "unknown method"
    return f"ECPay {ev.source}: paid NT${ev.amount_twd} ({method}), TradeNo {ev.trade_no}"


def _paid_values(ev: PaymentEvidence, now: datetime) -> dict[str, Any]:
    return {
        "paid_at": now,
        "paid_amount_twd": ev.amount_twd,
        "ecpay_trade_no": ev.trade_no or None,
        "payment_method": ev.payment_type or None,
    }


# The common case in one statement: the payment is waiting, for this amount. The same compare-and-set and
# history row as transition_payment(.., PAID), the fulfill_item outbox rows, and the event's outcome. When it
# matches nothing (an unknown trade, another amount, already paid), nothing is written and apply_evidence
# works out which, as it always did.
_PAID = move(
    PAYMENT,
    to=PaymentStatus.PAID,
    where="t.merchant_trade_no = :trade_no AND t.amount_twd = :amount",
    sets=", paid_at = :paid_at, paid_amount_twd = :paid_amount_twd, ecpay_trade_no = :ecpay_trade_no, "
    "payment_method = :payment_method",
    cause=":cause",
    actor="'ecpay'",
    name="upd",
)
_ACCEPT_AT_ONCE = for_driver(
    text(
        f"""
WITH {_PAID}, event AS (
    UPDATE gateway_events SET outcome = :outcome, verified = true, payment_id = upd.id
    FROM upd WHERE gateway_events.id = :event_id
), fulfil AS (
    INSERT INTO outbox (topic, payload, dispatch_attempts)
    SELECT :topic, jsonb_build_object('item_id', i.id), 0
    FROM payment_items AS i JOIN upd ON i.payment_id = upd.id ORDER BY i.id
    RETURNING id, payload
)
SELECT upd.id AS payment_id, fulfil.id, fulfil.payload FROM upd, fulfil ORDER BY fulfil.id
"""  # noqa: S608 (constants only)
    )
)


def _accept_at_once(
    session: Session, ev: PaymentEvidence, config: EcpayConfig, event_id: int, now: datetime
) -> GatewayReply | None:
    """Accept a payment in one statement when it is the plain case; None when it is not (nothing written)."""
    if not ev.paid or (ev.simulated and not config.allow_simulated_paid):
        return None
    params = {
        "trade_no": ev.merchant_trade_no,
        "amount": ev.amount_twd,
        "cause": _paid_cause(ev)[:300],
        "event_id": event_id,
        "topic": topics.FULFILL_ITEM,
        "outcome": str(Verdict.ACCEPTED),
        **_paid_values(ev, now),
    }
    rows = driver(session).execute(_ACCEPT_AT_ONCE, params).fetchall()
    if not rows:
        return None
    for _, row_id, payload in rows:
        outbox.remember(session, row_id, topics.FULFILL_ITEM, payload, None)
    # no "paid" message here: the delivered one says it, or notify.queue_paid_for_slow_orders when slow
    return GatewayReply(Verdict.ACCEPTED, ACK, 200, rows[0][0])


def _accept(
    session: Session, payment: Any, ev: PaymentEvidence, now: datetime, public_url: str = ""
) -> GatewayReply:
    values = _paid_values(ev, now)
    if payment.merchant_trade_no != ev.merchant_trade_no:
        # an earlier hand-off was paid after all: it becomes the payment's trade (refunds name it to ECPay)
        values["merchant_trade_no"] = ev.merchant_trade_no
    result = transition_payment(
        session,
        payment.id,
        PaymentStatus.PAID,  # type: ignore[arg-type]
        cause=_paid_cause(ev),
        actor="ecpay",
        values=values,
    )
    if result.result is Applied.APPLIED:
        rows = driver(session).execute(
            _FULFIL_ITEMS, {"topic": topics.FULFILL_ITEM, "payment_id": payment.id}
        )
        for row_id, payload in rows.fetchall():
            outbox.remember(session, row_id, topics.FULFILL_ITEM, payload, None)
        return GatewayReply(Verdict.ACCEPTED, ACK, 200, payment.id)
    # read again: a concurrent notice of another hand-off may have won the compare-and-set just now
    now_paid = (
        driver(session)
        .execute("SELECT merchant_trade_no FROM payments WHERE id = %(id)s", {"id": payment.id})
        .fetchone()
    )
    if now_paid is not None and now_paid[0] != ev.merchant_trade_no:
        # two hand-offs of one order were both paid: the order is delivered once, the second payment goes back
        refund_id = refund_second_payment(
            session,
            payment.id,
            merchant_trade_no=ev.merchant_trade_no,
            trade_no=ev.trade_no,
            amount_twd=ev.amount_twd or payment.amount_twd,
            payment_type=ev.payment_type,
            paid_through=now_paid[0],
            public_url=public_url,
        )
        why = f"a second hand-off paid: refund #{refund_id} requested" if refund_id else "its refund exists"
        return GatewayReply(Verdict.DUPLICATE, ACK, 200, payment.id, why)
    # someone else accepted it (a duplicate notice, or the query path): nothing more to do
    return GatewayReply(Verdict.DUPLICATE, ACK, 200, payment.id, f"already {result.current}")


def check_payment(
    uow_factory: UowFactory,
    payment_id: int,
    config: EcpayConfig,
    client: EcpayClient,
    *,
    now: datetime | None = None,
) -> Verdict:
    """Ask ECPay about one PENDING payment and heal it through the notification path, or expire it.

    Honours a persisted 30-minute back-off after HTTP 403. Offline methods (ATM, CVS, barcode) are given days.
    """
    now = now or datetime.now(UTC)
    with uow_factory() as uow:
        payment = uow.session.get(Payment, payment_id)
        if payment is None or payment.status != PaymentStatus.PENDING:
            return Verdict.UNCHANGED
        if payment.next_query_at is not None and payment.next_query_at > now:
            return Verdict.UNCHANGED
        trade_no, expires_at = payment.merchant_trade_no, payment.expires_at
        # every earlier hand-off too (newest first): a declined card's retry may leave an older trade paid
        earlier = [
            t
            for (t,) in uow.session.execute(
                text(
                    "SELECT merchant_trade_no FROM payment_checkouts WHERE payment_id = :p "
                    "AND merchant_trade_no <> :t ORDER BY id DESC LIMIT 5"
                ),
                {"p": payment_id, "t": trade_no},
            ).all()
        ]
    try:
        result = client.query_trade(trade_no)  # signed with the real clock: ECPay checks TimeStamp
        if result.status != "paid":
            for other in earlier:
                older = client.query_trade(other)
                if older.status == "paid":
                    trade_no, result = other, older
                    break
    except EcpayThrottled as exc:
        with uow_factory() as uow:
            uow.session.get(Payment, payment_id).next_query_at = exc.until  # type: ignore[union-attr]
            uow.commit()
        return Verdict.UNCHANGED
    except EcpayError as exc:
        log.warning("ECPay query for payment %s failed: %s", payment_id, exc)
        return Verdict.UNCHANGED
    with uow_factory() as uow:
        session = uow.session
        event = GatewayEvent(
            kind="query",
            merchant_trade_no=trade_no,
            payment_id=payment_id,
            fields=result.fields,
            verified=True,
        )
        session.add(event)
        session.flush()
        verdict = _apply_query(session, payment_id, result, expires_at, config, now)
        event.outcome = verdict
        uow.commit()
        return verdict


def _apply_query(
    session: Session,
    payment_id: int,
    result: TradeQueryResult,
    expires_at: datetime,
    config: EcpayConfig,
    now: datetime,
) -> Verdict:
    if result.status == "paid":
        return apply_evidence(session, PaymentEvidence.of_query(result), config, now=now).verdict
    offline = result.payment_type.upper().startswith(OFFLINE_METHODS)
    deadline = expires_at + (OFFLINE_GRACE if offline else timedelta(0))
    # a hand-off the customer left unchosen (10200095) ends only that hand-off: they may pay again in the window
    if (result.status == "failed" and now >= expires_at) or (result.status == "unpaid" and now >= deadline):
        why = (
            "no payment method chosen (TradeStatus 10200095)"
            if result.status == "failed"
            else "not paid in time"
        )
        r = transition_payment(
            session,
            payment_id,
            PaymentStatus.EXPIRED,
            cause=f"ECPay query: {why}",
            actor="system:reconciler",
            from_={PaymentStatus.PENDING},
        )
        if r.applied:  # the order never took money: its promo use is free again
            release_promo_use(session, payment_id)
        return Verdict.EXPIRED if r.applied else Verdict.UNCHANGED
    return Verdict.NOT_PAID
