"""Refunds, a lifecycle of their own (esa_domain.core.states.REFUND): requested -> sent -> confirmed | failed,
or an operator's task (manual) where ECPay has no refund API.

- A refund row is keyed (payment, sequence); what was not delivered is refunded once (uq_refund_undelivered),
  and a payment has one refund on its way at a time (uq_refund_one_live).
- Requesting a card refund writes the row (REQUESTED) and a `send_refund` outbox row in one transaction; the
  worker moves it to SENT and commits *before* DoAction R leaves, then records the answer.
- A SENT refund whose answer never arrived (a worker killed mid-call, a lost answer) is resumed only after
  asking ECPay what happened: QueryTradeInfo gives the authorisation (gwsr), CreditDetail/QueryTrade/V2 its
  refunds. ECPay's refunded total less ours confirmed says whether this one was made: confirmed if so, sent
  again if nothing was refunded, and an operator's alert if the numbers disagree. Never a blind second DoAction.
- ATM, CVS and barcode payments have no refund API: the refund becomes an operator's task (MANUAL) with its
  amount and the customer's bank details when given, done with the operator's transfer reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import TextClause, text
from sqlmodel import Session, col, func, select

from esa_domain.adapters.ecpay import EcpayClient, EcpayError
from esa_domain.adapters.ecpay.client import DoActionResult
from esa_domain.core.errors import DomainError
from esa_domain.core.states import REFUND, REFUND_LIVE, ItemStatus, PaymentStatus, RefundStatus
from esa_domain.core.transitions import born, move, transition_payment
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import UnitOfWork
from esa_domain.invoicing.issuing import on_refund_confirmed
from esa_domain.models import GatewayEvent, Payment, PaymentItem, Refund
from esa_domain.operations.alerts import raise_alert
from esa_domain.ordering import notify
from esa_domain.ordering.promo_release import release_promo_use
from esa_domain.payments.accept import EcpayConfig

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
ACTOR = "system:refunds"
EVENT_KIND = "refund"
UNDELIVERED, OPERATOR = "undelivered", "operator"
# the alert conditions a refund that needs a person is raised under (the stuck table knows them too)
REFUND_ZERO = "refund_zero"
REFUND_MANUAL = "refund_manual"
REFUND_NO_TRADE_NO = "refund_no_trade_no"
REFUND_UNKNOWN = "refund_unknown"
REFUND_REFUSED = "refund_refused"
REFUND_MISMATCH = "refund_mismatch"
REVIEW_CONDITIONS = (
    REFUND_ZERO,
    REFUND_MANUAL,
    REFUND_NO_TRADE_NO,
    REFUND_UNKNOWN,
    REFUND_REFUSED,
    REFUND_MISMATCH,
)
DEFAULT_RESUME_AFTER = timedelta(minutes=5)  # longer than any DoAction call may last (timeouts, time limit)
P, R = PaymentStatus, RefundStatus
# a payment's refunds count against what was charged unless ECPay refused them and nobody took them over
_COUNTED = (R.REQUESTED, R.SENT, R.CONFIRMED, R.MANUAL)


class RefundRefused(DomainError):
    """A refund that cannot be made as asked (amount, state); the message says why and what to do."""

    code = "refund_refused"
    http_status = 409


def is_card(payment_method: str | None) -> bool:
    """ECPay's PaymentType for cards starts with "Credit" (Credit_CreditCard); only those have DoAction."""
    return bool(payment_method) and payment_method.startswith("Credit")  # type: ignore[union-attr]


def refund_amount(payment: Payment, failed_price_twd: int) -> int:
    """What to give back: all of it for FAILED; for PARTIAL the failed items' share of what was charged.

    The share is amount_twd * failed / subtotal, so a promo discount is spread over the items pro rata.
    It is rounded UP (ceiling division, integers only): the customer never gets less than their share, and we
    give away at most NT$1 per order. Never more than what is left unrefunded.
    """
    left = payment.amount_twd - payment.refunded_twd
    if payment.status == P.FAILED or payment.subtotal_twd <= 0:
        return left
    share = -(-payment.amount_twd * failed_price_twd // payment.subtotal_twd)
    return max(0, min(share, left))


# ---- statements -----------------------------------------------------------------------------------------

_INSERT = f"""
    ins AS (
        INSERT INTO refunds (payment_id, sequence, purpose, method, amount_twd, status, reason, requested_by,
            bank_details, sends, created_at, updated_at)
        SELECT :payment, coalesce((SELECT max(sequence) FROM refunds WHERE payment_id = :payment), 0) + 1,
            :purpose, :method, :amount, '{REFUND.statuses("REQUESTED")}', :reason, :actor, :bank, 0, now(), now()
        ON CONFLICT DO NOTHING
        RETURNING id, payment_id
    )"""  # noqa: S608 (constants only)
_BORN = born(REFUND, rows="ins", name="born_h", cause=":cause", actor=":actor")
_REQUEST = text(f"WITH {_INSERT}, {_BORN} SELECT id FROM ins")  # noqa: S608 (constants only)


@lru_cache(maxsize=64)
def _move_sql(to: str, sources: tuple[str, ...], sets: str) -> TextClause:
    ctes = move(
        REFUND, to=to, from_=sources, where="t.id = :refund", sets=sets, cause=":cause", actor=":actor"
    )
    return text(f"WITH {ctes} SELECT from_status FROM moved")  # noqa: S608 (from the lifecycle table)


def _move(
    session: Session, refund_id: int, to: RefundStatus, from_: tuple[RefundStatus, ...], cause: str, actor: str,
    sets: str = "", **params: object,
) -> bool:  # fmt: skip
    """Compare-and-set `refund_id` to `to` from one of `from_`, with its history row; False when it had moved."""
    hit = session.execute(
        _move_sql(str(to), tuple(str(s) for s in from_), sets),
        {"refund": refund_id, "cause": cause[:300], "actor": actor[:80], **params},
    ).first()
    return hit is not None


def _lock_payment(session: Session, payment_id: int) -> Payment:
    payment = session.get(Payment, payment_id, with_for_update={"key_share": True})
    if payment is None:
        raise RefundRefused(f"payment {payment_id} does not exist")
    return payment


def committed_twd(session: Session, payment_id: int) -> int:
    """What the payment's refunds give back or are giving back (every refund not refused and left)."""
    total = session.exec(
        select(func.coalesce(func.sum(Refund.amount_twd), 0)).where(
            Refund.payment_id == payment_id,
            col(Refund.status).in_([str(s) for s in _COUNTED]),
            col(Refund.merchant_trade_no).is_(None),  # a second paid hand-off is a charge of its own
        )
    ).one()
    return int(total)


def _failed_price(session: Session, payment_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PaymentItem.price_twd), 0)).where(
            PaymentItem.payment_id == payment_id, PaymentItem.status == ItemStatus.FAILED
        )
    ).one()
    return int(total)


# ---- requesting ---------------------------------------------------------------------------------------


def request_refund(
    session: Session,
    payment_id: int,
    amount: int,
    *,
    purpose: str,
    reason: str,
    actor: str,
    public_url: str,
    bank_details: str | None = None,
) -> int | None:
    """Write a refund of `amount` (whole TWD) in the caller's transaction; returns its id, or None when the
    undelivered part already has its refund (a duplicate). Card payments get a `send_refund` outbox row;
    every other method an operator's task (MANUAL) with an alert. A FAILED or PARTIAL payment moves to
    REFUND_PENDING. Raises RefundRefused for an amount out of bounds or a refund already on its way.
    """
    payment = _lock_payment(session, payment_id)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise RefundRefused("a refund is a whole number of TWD above 0")
    if payment.status not in (P.SUCCESS, P.PARTIAL, P.FAILED, P.REFUND_PENDING, P.REFUNDED, P.NEEDS_REVIEW):
        raise RefundRefused(f"a {payment.status} payment has nothing to refund yet")
    left = payment.amount_twd - committed_twd(session, payment_id)
    if amount > left:
        raise RefundRefused(
            f"at most NT${max(left, 0)} can still be refunded on this order (NT${payment.amount_twd} charged, "
            f"NT${payment.amount_twd - left} refunded or on its way)"
        )
    live = session.exec(
        select(Refund.id).where(
            Refund.payment_id == payment_id,
            col(Refund.status).in_(list(REFUND_LIVE)),
            col(Refund.merchant_trade_no).is_(None),
        )
    ).first()
    card = is_card(payment.payment_method) and bool(payment.ecpay_trade_no)
    if live is not None and card:
        if purpose == UNDELIVERED and _has_undelivered(session, payment_id):
            return None
        raise RefundRefused(f"refund #{live} of this order is on its way to ECPay: wait for it to finish")
    refund_id = session.execute(
        _REQUEST,
        {
            "payment": payment_id,
            "purpose": purpose,
            "method": "ecpay" if card else "manual",
            "amount": amount,
            "reason": reason[:300],
            "actor": actor[:80],
            "bank": (bank_details or "").strip()[:300] or None,
            "cause": f"refund of NT${amount} requested: {reason}"[:300],
        },
    ).scalar_one_or_none()
    if refund_id is None:
        return None  # the undelivered part has its refund already
    if payment.status in (P.FAILED, P.PARTIAL):
        transition_payment(
            session,
            payment_id,
            P.REFUND_PENDING,
            cause=f"refund #{refund_id} of NT${amount} requested ({reason})"[:300],
            actor=actor,
            from_={P.FAILED, P.PARTIAL},
        )
    if card:
        outbox.record(session, topics.SEND_REFUND, {"refund_id": refund_id})
        return int(refund_id)
    why = (
        "The payment has no ECPay TradeNo, so DoAction cannot refund it"
        if is_card(payment.payment_method)
        else f"Paid by {payment.payment_method or 'an unknown method'}, which has no refund API"
    )
    _move(session, refund_id, R.MANUAL, (R.REQUESTED,), f"{why}: an operator refunds it by hand", ACTOR)
    _to_review(session, payment_id, f"refund #{refund_id} is an operator's task")
    condition = REFUND_MANUAL if not is_card(payment.payment_method) else REFUND_NO_TRADE_NO
    raise_alert(
        session,
        condition=condition,
        payment_id=payment_id,
        public_url=public_url,
        title=f"Refund NT${amount} by hand on order {payment_id}",
        body=f"{why}. Refund NT${amount} to the customer by hand (the order page shows the bank details when "
        "given), then mark the refund done with its transfer reference.",
        dedupe_key=f"{condition}:refund:{refund_id}",
    )
    return int(refund_id)


def _has_undelivered(session: Session, payment_id: int) -> bool:
    q = select(Refund.id).where(Refund.payment_id == payment_id, Refund.purpose == UNDELIVERED)
    return session.exec(q).first() is not None


def _doaction_before_refund_rows(session: Session, payment_id: int) -> bool:
    """A "refund" gateway event of this payment that names no refund row: a DoAction of the older code."""
    q = select(GatewayEvent.id).where(
        GatewayEvent.payment_id == payment_id,
        GatewayEvent.kind == EVENT_KIND,
        ~col(GatewayEvent.fields).has_key("refund_id"),  # type: ignore[attr-defined]
    )
    return session.exec(q).first() is not None


def _to_review(session: Session, payment_id: int, why: str) -> None:
    transition_payment(session, payment_id, P.NEEDS_REVIEW, cause=why, actor=ACTOR, from_={P.REFUND_PENDING})


def refund_payment(
    uow_factory: UowFactory, payment_id: int, ecpay: EcpayConfig, *_: object, **__: object
) -> str:
    """Request the refund of what a FAILED or PARTIAL payment did not deliver (the `refund_payment` message,
    and the reconciler for a payment whose message was lost); returns the payment's status afterwards.
    A duplicate finds the refund requested and does nothing."""
    with uow_factory() as uow:
        s = uow.session
        payment = _lock_payment(s, payment_id)
        orphan = payment.status == P.REFUND_PENDING and not _has_undelivered(s, payment_id)
        if payment.status not in (P.FAILED, P.PARTIAL) and not orphan:
            return str(payment.status)
        if orphan and _doaction_before_refund_rows(s, payment_id):
            # claimed before refunds were rows of their own and a DoAction left then: it may have been made
            _to_review(s, payment_id, "a DoAction left before refunds were recorded as rows: check ECPay")
            raise_alert(
                s,
                condition=REFUND_UNKNOWN,
                payment_id=payment_id,
                public_url=ecpay.public_url,
                title=f"Refund on order {payment_id}: outcome unknown",
                body="A DoAction was sent for this order before refunds were recorded as rows of their own, and "
                "its outcome was never recorded. The refund MAY OR MAY NOT have happened: check the trade in "
                "ECPay's back office, then refund by hand or mark the payment refunded.",
            )
            uow.commit()
            return str(P.NEEDS_REVIEW)
        amount = refund_amount(payment, _failed_price(s, payment_id))
        amount = min(amount, payment.amount_twd - committed_twd(s, payment_id))
        if amount <= 0:
            if payment.status != P.REFUND_PENDING:
                transition_payment(
                    s, payment_id, P.REFUND_PENDING, cause="nothing left to refund automatically", actor=ACTOR,
                    from_={P.FAILED, P.PARTIAL},
                )  # fmt: skip
            _to_review(s, payment_id, "the computed refund is NT$0: an operator settles it")
            raise_alert(
                s,
                condition=REFUND_ZERO,
                payment_id=payment_id,
                public_url=ecpay.public_url,
                title=f"Nothing left to refund on order {payment_id}",
                body=f"The computed refund is NT$0 (NT${payment.refunded_twd} of NT${payment.amount_twd} already "
                "refunded). Check the items and settle the payment by hand.",
            )
        else:
            request_refund(
                s,
                payment_id,
                amount,
                purpose=UNDELIVERED,
                reason=f"{payment.status}: undelivered items",
                actor=ACTOR,
                public_url=ecpay.public_url,
            )
        uow.commit()
        s.expire_all()
        return str(s.get(Payment, payment_id).status)  # type: ignore[union-attr]


# ---- sending and resuming -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    refund_id: int
    payment_id: int
    merchant_trade_no: str
    trade_no: str
    amount: int
    whole_charge: bool  # the whole charge, nothing refunded before: a void (N) would be equivalent
    resume: bool  # ask ECPay first: an earlier DoAction's answer was never recorded
    paid_twd: int
    other_trade: str | None = None  # the MerchantTradeNo of a second paid hand-off, when it is refunded


def send_refund(
    uow_factory: UowFactory,
    refund_id: int,
    ecpay: EcpayConfig,
    client: EcpayClient,
    *,
    now: datetime | None = None,
    resume_after: timedelta = DEFAULT_RESUME_AFTER,
) -> str:
    """Carry a card refund to ECPay; returns the refund's status afterwards.

    REQUESTED: SENT is committed, then DoAction R leaves and its answer is recorded. SENT for longer than
    `resume_after` (its worker died, or the answer was lost): ECPay is asked what happened before anything is
    sent again. Anything else (finished, a manual task, another worker's call in flight) is left alone.
    """
    now = now or datetime.now(UTC)
    with uow_factory() as uow:
        job = _claim(uow.session, refund_id, now, resume_after)
        uow.commit()
    if isinstance(job, str):
        return job
    if job.resume:
        made = _ask_ecpay(uow_factory, job, ecpay, client)
        if made is not None:
            return made
        with uow_factory() as uow:  # ECPay never got it: send it again under the same refund
            uow.session.execute(
                text("UPDATE refunds SET sends = sends + 1, sent_at = :now WHERE id = :id"),
                {"now": now, "id": job.refund_id},
            )
            uow.commit()
    result, action = _do_action(uow_factory, client, job, "R"), "R"
    # ECPay refunds (R) only captured trades; before the daily close an authorisation is voided (N) instead.
    # Only for the whole charge with nothing refunded, and only after a definite refusal: nothing moved yet.
    if isinstance(result, DoActionResult) and not result.ok and job.whole_charge:
        log.info("DoAction R refused for refund %s (%s); voiding with N", refund_id, result.rtn_code)
        result, action = _do_action(uow_factory, client, job, "N"), "N"
    with uow_factory() as uow:
        status = _settle(uow.session, job, ecpay, result, action)
        uow.commit()
    return status


def _claim(session: Session, refund_id: int, now: datetime, resume_after: timedelta) -> _Job | str:
    refund = session.get(Refund, refund_id, with_for_update=True)  # duplicates queue here, then see the claim
    if refund is None:
        raise RefundRefused(f"refund {refund_id} does not exist")
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    if refund.method != "ecpay" or refund.status not in (R.REQUESTED, R.SENT):
        return str(refund.status)
    resume = refund.status == R.SENT
    if resume:
        if refund.sent_at is not None and refund.sent_at > now - resume_after:
            return str(refund.status)  # a call may still be in flight: never a second one beside it
        session.execute(
            text("UPDATE refunds SET sent_at = :now WHERE id = :id"), {"now": now, "id": refund_id}
        )
    else:
        _move(
            session, refund_id, R.SENT, (R.REQUESTED,), f"DoAction R NT${refund.amount_twd} leaving", ACTOR,
            ", sent_at = :now, sends = t.sends + 1", now=now,
        )  # fmt: skip
    other = refund.merchant_trade_no  # a second paid hand-off: its own trade, refunded whole
    before = committed_confirmed(session, payment.id, trade=other)  # type: ignore[arg-type]
    return _Job(
        refund_id,
        payment.id,  # type: ignore[arg-type]
        other or payment.merchant_trade_no,
        (refund.trade_no if other else payment.ecpay_trade_no) or "",
        refund.amount_twd,
        whole_charge=before == 0 and (other is not None or refund.amount_twd == payment.amount_twd),
        resume=resume,
        paid_twd=refund.amount_twd if other else payment.paid_amount_twd or payment.amount_twd,
        other_trade=other,
    )


def committed_confirmed(
    session: Session, payment_id: int, method: str = "ecpay", *, trade: str | None = None
) -> int:
    """What this payment's confirmed refunds of `method` gave back, of its own trade (or of `trade`, another
    paid hand-off of it)."""
    of_trade = col(Refund.merchant_trade_no).is_(None) if trade is None else Refund.merchant_trade_no == trade
    total = session.exec(
        select(func.coalesce(func.sum(Refund.amount_twd), 0)).where(
            Refund.payment_id == payment_id, Refund.status == R.CONFIRMED, Refund.method == method, of_trade
        )
    ).one()
    return int(total)


def _ask_ecpay(uow_factory: UowFactory, job: _Job, ecpay: EcpayConfig, client: EcpayClient) -> str | None:
    """What ECPay did with a refund whose answer was never recorded: its status once settled from ECPay's
    record, or None when ECPay made no refund for it (it may be sent again)."""
    try:
        trade = client.query_trade(job.merchant_trade_no)
        gwsr = trade.fields.get("gwsr", "")
        if not gwsr:
            raise EcpayError("QueryTradeInfo answered no authorisation number (gwsr) for this card trade")
        detail = client.query_credit_detail(gwsr, trade.amount_twd or job.paid_twd, ecpay.credit_check_code)
    except EcpayError as exc:
        with uow_factory() as uow:  # left SENT: the next reconciliation asks again; the stuck page lists it
            _note(uow.session, job.refund_id, f"asked ECPay, no answer: {exc}")
            uow.commit()
        return str(R.SENT)
    with uow_factory() as uow:
        s = uow.session
        s.get(Refund, job.refund_id, with_for_update=True)
        ours = committed_confirmed(s, job.payment_id, trade=job.other_trade)
        made = detail.refunded_twd - ours
        record = (
            f"ECPay's record: NT${detail.refunded_twd} refunded ({detail.status}), NT${ours} confirmed here"
        )
        if made == job.amount or (detail.voided and job.whole_charge):
            status = _confirm(s, job.refund_id, f"{record}: this refund was made", ACTOR, answer=record)
        elif made == 0:
            _note(s, job.refund_id, f"{record}: never made, sending again")
            uow.commit()
            return None
        else:
            _note(s, job.refund_id, f"{record}: does not match NT${job.amount}")
            raise_alert(
                s,
                condition=REFUND_MISMATCH,
                payment_id=job.payment_id,
                public_url=ecpay.public_url,
                title=f"Refund #{job.refund_id} on order {job.payment_id}: ECPay's record disagrees",
                body=f"{record}; this refund is NT${job.amount}. Nothing was sent again. Check the trade in "
                "ECPay's back office.",
                dedupe_key=f"{REFUND_MISMATCH}:refund:{job.refund_id}",
            )
            status = str(R.SENT)
        uow.commit()
        return status


def _note(session: Session, refund_id: int, what: str) -> None:
    session.execute(
        # updated_at stays the time of the last move: the stuck page's clock ("not moving for ...")
        text("UPDATE refunds SET ecpay_answer = :a WHERE id = :id"),
        {"a": what[:200], "id": refund_id},
    )


def _do_action(
    uow_factory: UowFactory, client: EcpayClient, job: _Job, action: str
) -> DoActionResult | EcpayError:
    with uow_factory() as uow:  # the request on record before it leaves: a crash mid-call stays visible
        event = GatewayEvent(
            payment_id=job.payment_id,
            merchant_trade_no=job.merchant_trade_no,
            kind=EVENT_KIND,
            fields={"request": {"Action": action, "TotalAmount": str(job.amount), "TradeNo": job.trade_no},
                    "refund_id": job.refund_id},
            verified=False,
            outcome=f"sent: DoAction {action} NT${job.amount}, no answer yet",
        )  # fmt: skip
        uow.session.add(event)
        uow.commit()
        event_id = event.id
    try:
        result: DoActionResult | EcpayError = client.do_action(
            job.merchant_trade_no,
            job.trade_no,
            action,
            job.amount,  # type: ignore[arg-type]
        )
    except EcpayError as exc:  # unavailable or an untrustworthy answer: the outcome is unknown
        result = exc
    with uow_factory() as uow:
        event = uow.session.get(GatewayEvent, event_id)
        assert event is not None
        if isinstance(result, EcpayError):
            event.outcome = f"unknown: {result}"[:200]
        else:
            event.fields = {**(event.fields or {}), "answer": result.fields}  # MAC already removed
            event.verified = True
            event.outcome = f"{'ok' if result.ok else 'refused'}: RtnCode {result.rtn_code} {result.rtn_msg}"[
                :200
            ]
        uow.commit()
    return result


def _settle(
    session: Session, job: _Job, config: EcpayConfig, result: DoActionResult | EcpayError, action: str
) -> str:
    session.get(Refund, job.refund_id, with_for_update=True)
    if isinstance(result, EcpayError):
        # left SENT: after the grace the reconciler asks ECPay what happened, then settles or sends again
        _note(session, job.refund_id, f"DoAction {action}: outcome unknown ({result})")
        return str(R.SENT)
    answer = f"DoAction {action}: RtnCode {result.rtn_code} {result.rtn_msg}"
    if result.ok:
        return _confirm(session, job.refund_id, answer, ACTOR, answer=answer)
    if not _move(session, job.refund_id, R.FAILED, (R.SENT,), f"ECPay refused it: {answer}", ACTOR,
                 ", ecpay_answer = :a, finished_at = now()", a=answer[:200]):  # fmt: skip
        return str(session.get(Refund, job.refund_id).status)  # type: ignore[union-attr]
    _to_review(session, job.payment_id, f"refund #{job.refund_id} refused by ECPay")
    raise_alert(
        session,
        condition=REFUND_REFUSED,
        payment_id=job.payment_id,
        public_url=config.public_url,
        title=f"ECPay refused the NT${job.amount} refund on order {job.payment_id}",
        body=f"{answer}. Nothing was refunded; refund in ECPay's back office or by hand, then mark the refund done.",
        dedupe_key=f"{REFUND_REFUSED}:refund:{job.refund_id}",
    )
    return str(R.FAILED)


def _confirm(session: Session, refund_id: int, cause: str, actor: str, *, answer: str | None = None,
             reference: str | None = None, from_: tuple[RefundStatus, ...] = (R.SENT,)) -> str:  # fmt: skip
    """The money went back: CONFIRMED, the payment's refunded total, and REFUNDED once nothing is left open."""
    refund = session.get(Refund, refund_id)
    assert refund is not None
    moved = _move(
        session, refund_id, R.CONFIRMED, from_, cause, actor,
        ", finished_at = now(), ecpay_answer = coalesce(:a, t.ecpay_answer), reference = coalesce(:ref, t.reference)",
        a=(answer or None) and answer[:200], ref=reference,
    )  # fmt: skip
    if not moved:
        session.refresh(refund)
        return str(refund.status)
    if refund.merchant_trade_no is not None:
        # a second paid hand-off given back: the order's own charge and state are not this refund's
        notify.queue(session, refund.payment_id, f"{notify.REFUNDED}:{refund_id}")
        return str(R.CONFIRMED)
    session.execute(
        text("UPDATE payments SET refunded_twd = refunded_twd + :amt, updated_at = now() WHERE id = :p"),
        {"amt": refund.amount_twd, "p": refund.payment_id},
    )
    # never a refund without its invoice adjustment (issue 19): an allowance or invalidation is requested here,
    # or, before the invoice is issued, its amount lowered to what is kept
    on_refund_confirmed(session, refund.payment_id, refund_id, refund.amount_twd, refund.purpose)
    release_promo_use(session, refund.payment_id)  # only once everything paid went back
    # the customer hears it in LINE
    notify.queue(session, refund.payment_id, f"{notify.REFUNDED}:{refund_id}")
    still_open = session.exec(
        select(Refund.id).where(
            Refund.payment_id == refund.payment_id,
            Refund.id != refund_id,
            col(Refund.status).in_([R.REQUESTED, R.SENT, R.MANUAL, R.FAILED]),
            col(Refund.merchant_trade_no).is_(None),
        )
    ).first()
    if still_open is None:
        transition_payment(
            session,
            refund.payment_id,
            P.REFUNDED,
            cause=f"refund #{refund_id} NT${refund.amount_twd} confirmed: {cause}"[:300],
            actor=actor,
            from_={P.REFUND_PENDING, P.NEEDS_REVIEW},
        )
    return str(R.CONFIRMED)


# ---- an operator's task -----------------------------------------------------------------------------------


def complete_by_hand(
    session: Session,
    refund_id: int,
    reference: str,
    actor: str,
    *,
    now: datetime | None = None,
    resume_after: timedelta = DEFAULT_RESUME_AFTER,
) -> str:
    """An operator refunded it outside ECPay's API (bank transfer, ECPay's back office): CONFIRMED with the
    transfer's reference. A refund ECPay refused becomes the operator's task first. A SENT refund whose answer
    never came is closed the same way once no call can still be in flight (`resume_after`), the reference being
    what ECPay's back office shows for it. Raises RefundRefused."""
    reference = (reference or "").strip()
    if len(reference) < 3:
        raise RefundRefused(
            "give the transfer's reference (at least 3 characters): it is kept with the refund"
        )
    refund = session.get(Refund, refund_id, with_for_update=True)
    if refund is None:
        raise RefundRefused(f"refund {refund_id} does not exist")
    if refund.status == R.SENT:
        now = now or datetime.now(UTC)
        if refund.sent_at is not None and refund.sent_at > now - resume_after:
            raise RefundRefused(
                f"refund #{refund_id} left for ECPay moments ago and its answer may still come: wait a few minutes"
            )
        return _confirm(
            session, refund_id, f"ECPay's back office shows it made, reference {reference}", actor,
            reference=reference[:120],
        )  # fmt: skip
    if refund.status == R.FAILED:
        _move(session, refund_id, R.MANUAL, (R.FAILED,), "taken over by hand after ECPay refused it", actor)
    elif refund.status != R.MANUAL:
        raise RefundRefused(
            f"refund #{refund_id} is {refund.status}: only an operator's task (MANUAL), a refused refund (FAILED) "
            "or a sent one whose answer never came (SENT) is marked done by hand"
        )
    return _confirm(
        session, refund_id, f"refunded by hand, reference {reference}", actor, reference=reference[:120],
        from_=(R.MANUAL,),
    )  # fmt: skip


def set_bank_details(session: Session, refund_id: int, details: str) -> None:
    """The customer's bank account for a refund made by hand (as they gave it)."""
    refund = session.get(Refund, refund_id, with_for_update=True)
    if refund is None:
        raise RefundRefused(f"refund {refund_id} does not exist")
    if refund.status not in (R.MANUAL, R.FAILED):
        raise RefundRefused(
            f"refund #{refund_id} is {refund.status}: bank details are for a refund made by hand"
        )
    details = (details or "").strip()
    if not 5 <= len(details) <= 300:
        raise RefundRefused(
            "bank details: the bank, the account number and the holder's name, in 5-300 characters"
        )
    session.execute(
        text("UPDATE refunds SET bank_details = :d, updated_at = now() WHERE id = :id"),
        {"d": details, "id": refund_id},
    )


# ---- for the reconciler and the pages ---------------------------------------------------------------------


def payments_without_refund(session: Session, *, older_than: datetime, limit: int) -> list[int]:
    """FAILED or PARTIAL payments (or REFUND_PENDING ones) settled before `older_than` whose undelivered part
    has no refund row: their refund message was lost."""
    rows = session.execute(
        text(
            """
            SELECT p.id FROM payments p
            WHERE p.status IN ('FAILED', 'PARTIAL', 'REFUND_PENDING') AND p.created_at < :cutoff
              AND coalesce(p.updated_at, p.created_at) < :cutoff
              AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.purpose = 'undelivered')
            ORDER BY p.created_at LIMIT :limit
            """
        ),
        {"cutoff": older_than, "limit": limit},
    ).scalars()
    return [int(r) for r in rows]


def refunds_requested_before(session: Session, *, older_than: datetime, limit: int) -> list[int]:
    """Card refunds still REQUESTED since before `older_than`: their send_refund message was lost."""
    q = (
        select(Refund.id)
        .where(Refund.status == R.REQUESTED, Refund.method == "ecpay", col(Refund.updated_at) < older_than)
        .order_by(col(Refund.id))
        .limit(limit)
    )
    return [int(r) for r in session.exec(q).all()]


def refunds_sent_before(session: Session, *, older_than: datetime, limit: int) -> list[int]:
    """SENT refunds whose last DoAction left before `older_than` and whose answer was never recorded."""
    q = (
        select(Refund.id)
        .where(Refund.status == R.SENT, col(Refund.sent_at) < older_than)
        .order_by(col(Refund.sent_at))
        .limit(limit)
    )
    return [int(r) for r in session.exec(q).all()]


def refunds_of(session: Session, payment_id: int) -> list[Refund]:
    return list(
        session.exec(select(Refund).where(Refund.payment_id == payment_id).order_by(col(Refund.sequence)))
    )
