"""What an operator may do from the dashboard, as use cases: each checks the role, performs the transition,
writes its outbox rows and its audit row in the caller's unit of work, and commits once.

Every function raises NotAllowed (a PermissionError) for a too-low role and ActionRefused for an action that
does not apply to the record's current state; the message says why and what to do instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from esa_domain.catalog.fx import PAIR
from esa_domain.catalog.fx_refresh import FxSourceError, checked_rate
from esa_domain.core.errors import DomainError
from esa_domain.core.states import ITEM, PAYMENT, ItemStatus, OperatorAction, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.fulfillment.evidence import last_words
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import UnitOfWork
from esa_domain.invoicing.issuing import on_refund_confirmed
from esa_domain.models import FxRate, Operator, Payment, PaymentItem, Product, Refund
from esa_domain.operations.operators import record_action, require_role
from esa_domain.payments import refunds
from esa_domain.payments.settlement import finish_payment_if_done


class ActionRefused(DomainError):
    code = "action_refused"
    http_status = 409


def _actor(operator: Operator) -> str:
    return f"operator:{operator.username}"


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise ActionRefused("say why in a few words: the reason is kept in the audit trail")
    return reason


def _listed(statuses: frozenset) -> str:
    return " or ".join(sorted(str(s) for s in statuses))


def refunds_by_hand(status: str) -> bool:
    """Whether refunding a payment in `status` means recording a refund an operator made by hand: the table
    lets it move straight to REFUNDED (no automatic refund is left to try)."""
    return status in PAYMENT.allowing(OperatorAction.REFUND) and PaymentStatus.REFUNDED in PAYMENT[status].to


def retry_fulfillment(uow: UnitOfWork, operator: Operator, payment_id: int, reason: str) -> list[int]:
    """Re-dispatch fulfillment for the paid payment's items that are not moving (PENDING, PROCESSING, or WAITING
    for a held-back supplier).

    No transition: the fulfill_item actor is idempotent by state and picks up from where the item is. Items
    waiting on a supplier (SUPPLIER_PENDING) are never retried: a second request could deliver twice.
    Returns the item ids dispatched.
    """
    require_role(operator, "operator")
    why = _reason(reason)
    s = uow.session
    payment = s.get(Payment, payment_id, with_for_update={"key_share": True})
    if payment is None:
        raise ActionRefused(f"payment {payment_id} does not exist")
    retryable = PAYMENT.allowing(OperatorAction.RETRY)
    if payment.status not in retryable:
        raise ActionRefused(
            f"only a {_listed(retryable)} payment can be retried; this one is {payment.status}"
        )
    items = s.exec(
        select(PaymentItem).where(
            PaymentItem.payment_id == payment_id,
            # WAITING: held back by an open breaker or a low deposit; a retry looks at the suppliers again now
            col(PaymentItem.status).in_([ItemStatus.PENDING, ItemStatus.PROCESSING, ItemStatus.WAITING]),
        )
    ).all()
    if not items:
        raise ActionRefused(
            "no item is waiting to be fulfilled (items waiting on a supplier are checked by reconciliation; "
            "items in NEEDS_REVIEW are resolved, not retried)"
        )
    ids = [i.id for i in items]
    for item_id in ids:
        outbox.record(s, topics.FULFILL_ITEM, {"item_id": item_id})
    record_action(
        s, operator.id, "retry_fulfillment", payment_id=payment_id, reason=why, detail={"items": ids}
    )
    uow.commit()
    return ids


def resolve_review(
    uow: UnitOfWork,
    operator: Operator,
    item_id: int,
    delivered: bool,
    reason: str,
    artifact: str | None = None,
    *,
    override: bool = False,
) -> str:
    """Settle a NEEDS_REVIEW item as delivered (SUCCESS, with the serial/token if known) or not (FAILED).

    "Not delivered" is refused while a supplier's last word about one of the item's attempts is success
    (esa_domain.fulfillment.evidence): the message shows that word. Only an admin may `override` it, with a
    reason; the evidence overridden is kept in the audit row.
    When it was the last open item, the payment takes the status its items imply; a FAILED or PARTIAL payment
    gets a refund_payment message (the refund actor claims it). Returns the item's new status.
    """
    require_role(operator, "operator")
    why = _reason(reason)
    s = uow.session
    item = s.get(PaymentItem, item_id, with_for_update={"key_share": True})
    if item is None:
        raise ActionRefused(f"item {item_id} does not exist")
    resolvable = ITEM.allowing(OperatorAction.RESOLVE)
    if item.status not in resolvable:
        raise ActionRefused(f"item {item_id} is {item.status}, not {_listed(resolvable)}: nothing to resolve")
    evidence = None
    if not delivered:
        word = last_words(s, [item_id]).get(item_id)
        if word is not None and word.delivered:
            if not override:
                raise ActionRefused(
                    f"{word.words} The supplier says it was delivered, so it cannot be marked not delivered. "
                    "Check with the supplier; an admin may override with a reason."
                )
            require_role(operator, "admin")
            evidence = {"delivered_by": word.delivered_by, "last_word": word.words}
    to = ItemStatus.SUCCESS if delivered else ItemStatus.FAILED
    values = {"artifact": artifact.strip()[:300]} if delivered and artifact else {}
    if not delivered:
        values = {"failure_reason": f"operator: {why}"[:300]}
    result = transition_item(
        s,
        item_id,
        to,
        cause=f"review resolved: {why}",
        actor=_actor(operator),
        from_={ItemStatus.NEEDS_REVIEW},
        values=values,
    )
    if not result.applied:
        raise ActionRefused(f"item {item_id} is {result.current}, not NEEDS_REVIEW: nothing to resolve")
    # the same settlement as the engine's (payment row locked): FAILED/PARTIAL queue the refund
    finish_payment_if_done(s, item.payment_id)
    record_action(
        s,
        operator.id,
        "resolve_review",
        payment_id=item.payment_id,
        subject=f"item:{item_id}",
        reason=why,
        detail={
            "item_id": item_id,
            "outcome": str(to),
            "artifact": values.get("artifact"),
            **({"overrode_supplier_evidence": evidence} if evidence else {}),
        },
    )
    uow.commit()
    return str(to)


def refund(
    uow: UnitOfWork,
    operator: Operator,
    payment_id: int,
    reason: str,
    refunded_twd: int | None = None,
    *,
    bank_details: str | None = None,
) -> str:
    """Refund all or part of a paid order (SUCCESS included: goodwill, a dispute) as a refund of its own.

    Card payments are refunded through ECPay DoAction R by the refund worker after commit; other methods become
    an operator's task (amount, the customer's bank details when given). `refunded_twd`: the amount (default:
    what was not delivered for FAILED or PARTIAL, else everything not yet refunded). A NEEDS_REVIEW payment
    whose refund is an operator's task: that task is marked done by hand (`reason` as its reference) instead.
    Returns the payment's status afterwards.
    """
    require_role(operator, "operator")
    why = _reason(reason)
    s = uow.session
    payment = s.get(Payment, payment_id, with_for_update={"key_share": True})
    if payment is None:
        raise ActionRefused(f"payment {payment_id} does not exist")
    refundable = PAYMENT.allowing(OperatorAction.REFUND)
    if payment.status not in refundable:
        raise ActionRefused(
            f"a {payment.status} payment cannot be refunded here (only {', '.join(sorted(refundable))} ones)"
        )
    before = str(payment.status)
    detail: dict = {"from": before}
    try:
        if refunds_by_hand(payment.status):
            tasks = [r for r in refunds.refunds_of(s, payment_id) if r.status in ("MANUAL", "FAILED")]
            for task in tasks:  # the refunds waiting for a person: done by hand, the reason as reference
                refunds.complete_by_hand(s, task.id, why, _actor(operator))  # type: ignore[arg-type]
            detail["refunds"] = [t.id for t in tasks]
            if not tasks:  # a review from before refunds were rows of their own: record what was done
                amount = (
                    refunded_twd if refunded_twd is not None else payment.amount_twd - payment.refunded_twd
                )
                if not 0 < amount <= payment.amount_twd:
                    raise ActionRefused(
                        f"the amount refunded by hand must be between NT$1 and NT${payment.amount_twd}"
                    )
                result = transition_payment(
                    s,
                    payment_id,
                    PaymentStatus.REFUNDED,
                    cause=f"refunded by hand (NT${amount}): {why}",
                    actor=_actor(operator),
                    from_={PaymentStatus.NEEDS_REVIEW},
                    values={"refunded_twd": amount},
                )
                if not result.applied:
                    raise ActionRefused(
                        f"payment {payment_id} moved to {result.current} meanwhile; reload the page"
                    )
                # its e-invoice gives back what this refunds beyond the undelivered part (issue 19)
                on_refund_confirmed(s, payment_id, None, amount, "undelivered")
        else:
            undelivered = payment.status in (PaymentStatus.FAILED, PaymentStatus.PARTIAL)
            if refunded_twd is None:
                left = payment.amount_twd - refunds.committed_twd(s, payment_id)
                amount = (
                    min(refunds.refund_amount(payment, _failed_price(s, payment_id)), left)
                    if undelivered
                    else left
                )
            else:
                amount = refunded_twd
            refund_id = refunds.request_refund(
                s,
                payment_id,
                amount,
                purpose=refunds.UNDELIVERED if undelivered else refunds.OPERATOR,
                reason=why,
                actor=_actor(operator),
                public_url=public_url(),
                bank_details=bank_details,
            )
            if refund_id is None:
                raise ActionRefused(
                    "this order's undelivered part has its refund already: see the refunds below"
                )
            detail.update(refund_id=refund_id, amount_twd=amount)
    except refunds.RefundRefused as exc:
        raise ActionRefused(str(exc)) from None
    s.flush()
    s.expire_all()
    new = str(s.get(Payment, payment_id).status)  # type: ignore[union-attr]
    detail["to"] = new
    record_action(s, operator.id, "refund", payment_id=payment_id, reason=why, detail=detail)
    uow.commit()
    return new


def complete_refund(uow: UnitOfWork, operator: Operator, refund_id: int, reference: str) -> str:
    """Mark an operator's refund task (or a refund ECPay refused) done by hand, with the transfer's reference."""
    require_role(operator, "operator")
    s = uow.session
    try:
        status = refunds.complete_by_hand(s, refund_id, reference, _actor(operator))
    except refunds.RefundRefused as exc:
        raise ActionRefused(str(exc)) from None
    refund_row = s.get(Refund, refund_id)
    record_action(
        s, operator.id, "refund_done", payment_id=refund_row.payment_id, subject=f"refund:{refund_id}",  # type: ignore[union-attr]
        reason=reference.strip(), detail={"refund_id": refund_id, "amount_twd": refund_row.amount_twd},  # type: ignore[union-attr]
    )  # fmt: skip
    uow.commit()
    return status


def record_bank_details(uow: UnitOfWork, operator: Operator, refund_id: int, details: str) -> None:
    """Keep the customer's bank account on a refund made by hand (audited; the details are not logged)."""
    require_role(operator, "operator")
    s = uow.session
    try:
        refunds.set_bank_details(s, refund_id, details)
    except refunds.RefundRefused as exc:
        raise ActionRefused(str(exc)) from None
    refund_row = s.get(Refund, refund_id)
    record_action(
        s, operator.id, "refund_bank_details", payment_id=refund_row.payment_id, subject=f"refund:{refund_id}",  # type: ignore[union-attr]
        reason="bank details given by the customer", detail={"refund_id": refund_id},
    )  # fmt: skip
    uow.commit()


def _failed_price(session, payment_id: int) -> int:  # type: ignore[no-untyped-def]
    from sqlmodel import func

    total = session.exec(
        select(func.coalesce(func.sum(PaymentItem.price_twd), 0)).where(
            PaymentItem.payment_id == payment_id, PaymentItem.status == ItemStatus.FAILED
        )
    ).one()
    return int(total)


def public_url() -> str:
    """Our address for alert links (the composition root's settings)."""
    from esa_domain.infra.settings import get_settings

    return get_settings().public_url


def set_fx_rate(uow: UnitOfWork, operator: Operator, rate: str, reason: str) -> FxRate:
    """Enter an IDR/TWD rate by hand (TWD per 1 IDR, e.g. "0.00198"); admins only. It is used from now on."""
    require_role(operator, "admin")
    why = _reason(reason)
    try:
        value = checked_rate(str(rate).strip())  # one plausibility rule for every rate source
    except FxSourceError as exc:
        raise ActionRefused(f"{exc}; give TWD per 1 IDR, e.g. 0.00198") from None
    row = FxRate(
        pair=PAIR, rate=value, source="manual", fetched_at=datetime.now(UTC), set_by_operator_id=operator.id
    )
    uow.session.add(row)
    uow.session.flush()
    record_action(
        uow.session,
        operator.id,
        "set_fx_rate",
        subject=f"fx:{PAIR}",
        reason=why,
        detail={"rate": str(value), "fx_rate_id": row.id},
    )
    uow.commit()
    return row


def update_product(
    uow: UnitOfWork,
    operator: Operator,
    product_id: int,
    reason: str,
    *,
    price_twd: int | None = None,
    active: bool | None = None,
) -> Product:
    """Change a product's price (whole TWD) or availability; admins only. Placed orders keep their price."""
    require_role(operator, "admin")
    why = _reason(reason)
    s = uow.session
    product = s.get(Product, product_id, with_for_update={"key_share": True})
    if product is None:
        raise ActionRefused(f"product {product_id} does not exist")
    before = {"price_twd": product.price_twd, "active": product.active}
    if price_twd is not None:
        if int(price_twd) <= 0:
            raise ActionRefused("the price must be a whole number of TWD above 0")
        product.price_twd = int(price_twd)
    if active is not None:
        product.active = active
        product.disabled_reason = None if active else why[:200]
    product.updated_at = datetime.now(UTC)
    s.add(product)
    s.flush()
    after = {"price_twd": product.price_twd, "active": product.active}
    record_action(
        s,
        operator.id,
        "update_product",
        subject=f"product:{product_id}",
        reason=why,
        detail={"code": product.code, "before": before, "after": after},
    )
    uow.commit()
    return product
