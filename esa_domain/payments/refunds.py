"""Refunding what was not delivered: card payments through ECPay DoAction, everything else by an operator.

The claim is the compare-and-set FAILED | PARTIAL -> REFUND_PENDING, written together with a "refund"
gateway event (the marker that a DoAction is about to leave). A duplicate message finds the payment claimed
and does nothing. An unknown DoAction outcome is never retried blindly: it goes to NEEDS_REVIEW.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, func, select

from esa_domain.adapters.ecpay import EcpayClient, EcpayError
from esa_domain.adapters.ecpay.client import DoActionResult
from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import NotFound, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import GatewayEvent, Payment, PaymentItem
from esa_domain.operations.alerts import raise_alert
from esa_domain.payments.accept import EcpayConfig

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]
ACTOR = "system:refunds"
EVENT_KIND = "refund"
# the alert conditions a refund that needs a person is raised under (the stuck table knows them too)
REFUND_ZERO = "refund_zero"
REFUND_MANUAL = "refund_manual"
REFUND_NO_TRADE_NO = "refund_no_trade_no"
REFUND_UNKNOWN = "refund_unknown"
REFUND_REFUSED = "refund_refused"
REVIEW_CONDITIONS = (REFUND_ZERO, REFUND_MANUAL, REFUND_NO_TRADE_NO, REFUND_UNKNOWN, REFUND_REFUSED)
P = PaymentStatus


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


@dataclass(frozen=True)
class _Claim:
    payment_id: int
    merchant_trade_no: str
    trade_no: str | None
    method: str | None
    amount: int
    refunded_before: int
    full: bool  # the whole charge, nothing refunded before: a void (N) would be equivalent
    event_id: int  # the "refund" gateway event of the first DoAction, written with the claim


def _failed_price(session: Session, payment_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(PaymentItem.price_twd), 0)).where(
            PaymentItem.payment_id == payment_id, PaymentItem.status == ItemStatus.FAILED
        )
    ).one()
    return int(total)


def _has_refund_event(session: Session, payment_id: int) -> bool:
    return (
        session.exec(
            select(GatewayEvent.id).where(
                GatewayEvent.payment_id == payment_id, GatewayEvent.kind == EVENT_KIND
            )
        ).first()
        is not None
    )


def _review(
    session: Session, config: EcpayConfig, payment_id: int, condition: str, title: str, body: str
) -> str:
    transition_payment(
        session,
        payment_id,
        P.NEEDS_REVIEW,
        cause=f"{title}: {body}"[:300],
        actor=ACTOR,
        from_={P.REFUND_PENDING},
    )
    raise_alert(
        session,
        condition=condition,
        payment_id=payment_id,
        public_url=config.public_url,
        title=title,
        body=body,
    )
    return str(P.NEEDS_REVIEW)


def _claim(session: Session, payment_id: int, config: EcpayConfig) -> _Claim | str:
    """Take the refund; returns the claim, or the payment's status when there is nothing (more) to do."""
    # duplicates queue on this lock, then see the claim
    payment = session.get(Payment, payment_id, with_for_update={"key_share": True})
    if payment is None:
        raise NotFound(f"payment {payment_id} does not exist")
    amount = refund_amount(payment, _failed_price(session, payment_id))
    if payment.status in (P.FAILED, P.PARTIAL):
        transition_payment(
            session,
            payment_id,
            P.REFUND_PENDING,
            cause=f"refund of NT${amount} started ({payment.status}: undelivered items)",
            actor=ACTOR,
            from_={P.FAILED, P.PARTIAL},
        )
    elif payment.status != P.REFUND_PENDING or _has_refund_event(session, payment_id):
        # already refunded, in review, or a DoAction already left for it: a duplicate message
        return str(payment.status)
    # else an operator moved it to REFUND_PENDING and sent us; no DoAction has left yet, so it is ours
    if amount <= 0:
        return _review(
            session,
            config,
            payment_id,
            REFUND_ZERO,
            f"Nothing left to refund on order {payment_id}",
            f"The computed refund is NT${amount} (NT${payment.refunded_twd} of NT${payment.amount_twd} "
            "already refunded). Check the items and settle the payment by hand.",
        )
    if not is_card(payment.payment_method):
        return _review(
            session,
            config,
            payment_id,
            REFUND_MANUAL,
            f"Refund NT${amount} by hand on order {payment_id}",
            f"Paid by {payment.payment_method or 'an unknown method'}, which has no refund API. "
            f"Refund NT${amount} to the customer by hand, then mark the payment refunded in the dashboard.",
        )
    if not payment.ecpay_trade_no:
        return _review(
            session,
            config,
            payment_id,
            REFUND_NO_TRADE_NO,
            f"Refund NT${amount} by hand on order {payment_id}",
            "The payment has no ECPay TradeNo, so DoAction cannot refund it. "
            "Refund it in ECPay's back office.",
        )
    # the marker is written in the claim's transaction, so a duplicate after our commit sees it
    event_id = _record_request(
        session, payment_id, payment.merchant_trade_no, payment.ecpay_trade_no, "R", amount
    )
    return _Claim(
        payment_id,
        payment.merchant_trade_no,
        payment.ecpay_trade_no,
        payment.payment_method,
        amount,
        payment.refunded_twd,
        full=payment.refunded_twd == 0 and amount == payment.amount_twd,
        event_id=event_id,
    )


def _record_request(
    session: Session, payment_id: int, merchant_trade_no: str, trade_no: str, action: str, amount: int
) -> int:
    """The DoAction about to be sent, committed before it leaves: a crash mid-call stays on record."""
    event = GatewayEvent(
        payment_id=payment_id,
        merchant_trade_no=merchant_trade_no,
        kind=EVENT_KIND,
        fields={"request": {"Action": action, "TotalAmount": str(amount), "TradeNo": trade_no}},
        verified=False,
        outcome=f"sent: DoAction {action} NT${amount}, no answer yet",
    )
    session.add(event)
    session.flush()
    return event.id  # type: ignore[return-value]


def _do_action(
    uow_factory: UowFactory, client: EcpayClient, claim: _Claim, action: str, event_id: int
) -> DoActionResult | EcpayError:
    try:
        result: DoActionResult | EcpayError = client.do_action(
            claim.merchant_trade_no,
            claim.trade_no or "",
            action,  # type: ignore[arg-type]
            claim.amount,
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
            ok = "ok" if result.ok else "refused"
            event.outcome = f"{ok}: RtnCode {result.rtn_code} {result.rtn_msg}"[:200]
        uow.commit()
    return result


def refund_payment(
    uow_factory: UowFactory,
    payment_id: int,
    ecpay: EcpayConfig,
    client: EcpayClient,
    *,
    now: datetime | None = None,
) -> str:
    """Refund the undelivered part of a FAILED or PARTIAL payment; returns the payment's status afterwards.

    `uow_factory()`: a fresh UnitOfWork (its publisher sends the alert messages after commit).
    `ecpay`: merchant config (its public_url makes the alert links). `client`: the DoAction client.
    `now`: unused by the decision today; kept so the actor and tests can pin time.
    Card payments get DoAction R (or N, voiding a same-day full authorisation ECPay will not refund yet);
    anything else, a refusal or an unknown outcome goes to NEEDS_REVIEW with an alert. Raises NotFound.
    """
    _ = now or datetime.now(UTC)
    with uow_factory() as uow:
        claim = _claim(uow.session, payment_id, ecpay)
        uow.commit()
    if isinstance(claim, str):
        return claim
    result, action = _do_action(uow_factory, client, claim, "R", claim.event_id), "R"
    # ECPay refunds (R) only captured trades; before the daily close an authorisation is voided (N) instead.
    # Only for the whole charge with nothing refunded, and only after a definite refusal: nothing moved yet.
    if isinstance(result, DoActionResult) and not result.ok and claim.full:
        log.info("DoAction R refused for payment %s (%s); voiding with N", payment_id, result.rtn_code)
        with uow_factory() as uow:
            void_id = _record_request(
                uow.session, payment_id, claim.merchant_trade_no, claim.trade_no or "", "N", claim.amount
            )
            uow.commit()
        result, action = _do_action(uow_factory, client, claim, "N", void_id), "N"
    with uow_factory() as uow:
        status = _settle(uow.session, claim, ecpay, result, action)
        uow.commit()
    return status


def _settle(
    session: Session, claim: _Claim, config: EcpayConfig, result: DoActionResult | EcpayError, action: str
) -> str:
    pid, amount = claim.payment_id, claim.amount
    if isinstance(result, EcpayError):
        return _review(
            session,
            config,
            pid,
            REFUND_UNKNOWN,
            f"Refund of NT${amount} on order {pid}: outcome unknown",
            f"DoAction {action} got no trustworthy answer ({result}). The refund MAY OR MAY NOT have "
            "happened: check the trade in ECPay's back office before refunding again.",
        )
    if not result.ok:
        return _review(
            session,
            config,
            pid,
            REFUND_REFUSED,
            f"ECPay refused the NT${amount} refund on order {pid}",
            f"DoAction {action} answered RtnCode {result.rtn_code} {result.rtn_msg}. Nothing was refunded; "
            "refund in ECPay's back office or by hand, then mark the payment refunded.",
        )
    verb = "voided (DoAction N)" if action == "N" else "refunded (DoAction R)"
    transition_payment(
        session,
        pid,
        P.REFUNDED,
        cause=f"NT${amount} {verb}",
        actor=ACTOR,
        from_={P.REFUND_PENDING},
        values={"refunded_twd": claim.refunded_before + amount},
    )
    return str(P.REFUNDED)


def refunds_in_flight(session: Session, *, older_than: datetime) -> list[int]:
    """REFUND_PENDING payments whose DoAction left before `older_than` and never settled (a crash mid-call).

    For the reconciler: these need review (the refund may have happened), never a second DoAction.
    """
    rows = session.exec(
        select(Payment.id)
        .join(GatewayEvent, col(GatewayEvent.payment_id) == col(Payment.id))
        .where(
            Payment.status == P.REFUND_PENDING,
            GatewayEvent.kind == EVENT_KIND,
            col(GatewayEvent.received_at) < older_than,
        )
        .distinct()
    ).all()
    return [int(r) for r in rows]
