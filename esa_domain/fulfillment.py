"""The fulfillment engine for one item: cheapest supplier first, fallback only on a definite failure.

- The item is claimed by a compare-and-set (PENDING|SUPPLIER_PENDING -> PROCESSING); losing the claim is a no-op.
- An attempt row with its own reference is committed BEFORE the purchase request leaves.
- SUCCESS finishes the item; FAILED customer fails it; FAILED product/config moves to the next candidate;
  PENDING/UNKNOWN parks the item in SUPPLIER_PENDING and schedules a status check with back-off; past the
  deadline it goes to NEEDS_REVIEW with an alert. A partial unique index forbids two live attempts per item.
- Recording an outcome locks the item row first and applies only if the item is still PROCESSING and the
  attempt still live, so a slow worker, a callback and a status check can race without double effects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from esa_domain import outbox, topics
from esa_domain.alerts import raise_alert
from esa_domain.db import UnitOfWork
from esa_domain.evidence import storable
from esa_domain.fx import latest_rate
from esa_domain.models import (
    ATTEMPT_LIVE,
    ItemAttempt,
    Payment,
    PaymentItem,
    Product,
    ProductCategory,
    Supplier,
    SupplierExchange,
)
from esa_domain.routing import (
    BreakerPolicy,
    rank_candidates,
    record_supplier_failure,
    record_supplier_success,
)
from esa_domain.settlement import finish_payment_if_done
from esa_domain.states import ItemStatus, PaymentStatus
from esa_domain.suppliers.base import (
    CallResult,
    Exchange,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierAdapter,
    SupplierOutcome,
)
from esa_domain.transitions import transition_item

log = logging.getLogger(__name__)
ACTOR = "system:fulfillment"
It = ItemStatus


@dataclass(frozen=True)
class FulfillmentPolicy:
    check_backoff: tuple[timedelta, ...] = tuple(
        timedelta(seconds=s) for s in (10, 30, 60, 120, 300, 600, 1800)
    )
    deadline: timedelta = timedelta(hours=2)  # an outcome still unknown past this goes to NEEDS_REVIEW
    not_found_grace: timedelta = timedelta(minutes=2)  # "no such transaction" is trusted only after this
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass
class FulfillmentContext:
    uow: Callable[[], UnitOfWork]
    adapters: Mapping[str, SupplierAdapter]
    public_url: str
    policy: FulfillmentPolicy = field(default_factory=FulfillmentPolicy)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def callback_url(self, supplier_code: str) -> str:
        return f"{self.public_url.rstrip('/')}/callbacks/{supplier_code}"


class Step(StrEnum):
    DONE = "done"  # the item reached a state this worker does not continue from
    NEXT = "next"  # definite product/config failure: try the next candidate
    LOST = "lost"  # someone else owns the item or settled the attempt: stop quietly


def reference_for(item_id: int, supplier_id: int) -> str:
    """One reference per (item, supplier); reused for every status check and resend to that supplier."""
    return f"ESA{item_id}S{supplier_id}"


def advance_item(ctx: FulfillmentContext, item_id: int, *, cause: str = "fulfillment") -> str:
    """Claim the item and move it on: check its live attempt if it has one, else buy from the next candidate.

    Idempotent by state: a message for an item someone else holds, or that is finished, changes nothing.
    """
    with ctx.uow() as uow:
        s = uow.session
        item = s.get(PaymentItem, item_id)
        if item is None:
            return "missing"
        payment_status = s.exec(select(Payment.status).where(Payment.id == item.payment_id)).one()
        if payment_status != PaymentStatus.PAID:
            return item.status  # only paid orders are fulfilled
        claim = transition_item(
            s, item_id, It.PROCESSING, from_={It.PENDING, It.SUPPLIER_PENDING}, cause=cause, actor=ACTOR
        )
        if not claim.applied:
            return claim.current
        live = s.exec(
            select(ItemAttempt).where(
                ItemAttempt.item_id == item_id, col(ItemAttempt.state).in_(ATTEMPT_LIVE)
            )
        ).first()
        uow.commit()
    if live is not None:
        return _check_status(ctx, item_id, live.id)  # type: ignore[arg-type]
    return _purchase_loop(ctx, item_id)


def _purchase_loop(ctx: FulfillmentContext, item_id: int) -> str:
    while True:
        now = ctx.clock()
        with ctx.uow() as uow:
            s = uow.session
            item = _lock_item(s, item_id)
            if item.status != It.PROCESSING:
                return item.status
            payment = s.get(Payment, item.payment_id)
            rate = latest_rate(s)
            candidates = rank_candidates(
                s, item_id, item.product_id, rate.rate if rate else payment.fx_rate, now
            )  # type: ignore[union-attr]
            if not candidates:
                tried = s.exec(select(ItemAttempt.state).where(ItemAttempt.item_id == item_id)).all()
                reason = (
                    f"no supplier could deliver ({len(tried)} tried)" if tried else "no supplier offers it"
                )
                transition_item(
                    s,
                    item_id,
                    It.FAILED,
                    from_={It.PROCESSING},
                    cause=reason,
                    actor=ACTOR,
                    values={"failure_reason": reason},
                )
                finish_payment_if_done(s, item.payment_id, public_url=ctx.public_url)
                uow.commit()
                return It.FAILED
            best = candidates[0]
            attempt = ItemAttempt(
                item_id=item_id,
                supplier_id=best.supplier_id,
                reference=reference_for(item_id, best.supplier_id),
                state="SENDING",
                cost_idr=best.cost_idr,
                cost_twd=best.cost_twd,
            )
            s.add(attempt)
            request = _purchase_request(
                s, item, best.sku, best.cost_idr, attempt.reference, ctx.callback_url(best.supplier_code)
            )
            try:
                uow.commit()  # the attempt exists before the request leaves
            except IntegrityError:
                uow.rollback()  # another worker holds a live attempt for this item
                return Step.LOST
        result = _call(ctx.adapters.get(best.supplier_code), "purchase", request)
        step = record_outcome(ctx, item_id, attempt.id, result, operation="purchase")  # type: ignore[arg-type]
        if step is not Step.NEXT:
            return _status_of(ctx, item_id)


def _check_status(ctx: FulfillmentContext, item_id: int, attempt_id: int) -> str:
    with ctx.uow() as uow:
        s = uow.session
        attempt = s.get(ItemAttempt, attempt_id)
        item = s.get(PaymentItem, item_id)
        supplier = s.get(Supplier, attempt.supplier_id)  # type: ignore[union-attr]
        offer_sku = s.execute(
            text("SELECT supplier_sku FROM supplier_offers WHERE supplier_id = :s AND product_id = :p"),
            {"s": supplier.id, "p": item.product_id},  # type: ignore[union-attr]
        ).scalar_one_or_none()
        request = _purchase_request(
            s, item, offer_sku or "", attempt.cost_idr, attempt.reference, ctx.callback_url(supplier.code)
        )  # type: ignore[union-attr,arg-type]
        code = supplier.code  # type: ignore[union-attr]
    result = _call(ctx.adapters.get(code), "check_status", request)
    step = record_outcome(ctx, item_id, attempt_id, result, operation="status")
    if step is Step.NEXT:
        return _purchase_loop(ctx, item_id)
    return _status_of(ctx, item_id)


def _call(adapter: SupplierAdapter | None, operation: str, request: PurchaseRequest) -> CallResult:
    if adapter is None:
        return CallResult(
            SupplierOutcome(Outcome.FAILED, FailureClass.CONFIG, message="no adapter is configured")
        )
    try:
        return getattr(adapter, operation)(request)
    except Exception as exc:  # an adapter bug is an unknown outcome, never a reason to buy elsewhere
        log.exception("supplier adapter %s.%s raised", type(adapter).__name__, operation)
        return CallResult(SupplierOutcome(Outcome.UNKNOWN, message=f"adapter error: {type(exc).__name__}"))


def record_outcome(
    ctx: FulfillmentContext, item_id: int, attempt_id: int, result: CallResult, *, operation: str
) -> Step:
    """Apply one supplier answer, holding the item's row lock; everything or nothing."""
    now = ctx.clock()
    o = result.outcome
    with ctx.uow() as uow:
        s = uow.session
        attempt = s.get(ItemAttempt, attempt_id)
        _store_exchanges(s, attempt.supplier_id, attempt_id, result.exchanges)  # type: ignore[union-attr]
        item = _lock_item(s, item_id)
        s.refresh(attempt)
        if item.status != It.PROCESSING or attempt.state not in ATTEMPT_LIVE:  # type: ignore[union-attr]
            uow.commit()  # keep the exchanges for the record; the owner of the item decides
            return Step.LOST
        if (
            o.outcome is Outcome.FAILED
            and o.failure_class is not FailureClass.CUSTOMER
            and operation == "status"
            and attempt.state == "UNKNOWN"  # type: ignore[union-attr]
            and now - attempt.created_at < ctx.policy.not_found_grace  # type: ignore[union-attr]
        ):
            o = SupplierOutcome(Outcome.UNKNOWN, message=f"not trusted yet within grace: {o.message}")
        elif (
            o.no_transaction
            and operation == "status"
            and now - attempt.created_at >= ctx.policy.not_found_grace
        ):  # type: ignore[union-attr]
            # proven absent after the grace period: nothing was bought, so the next supplier is safe
            o = SupplierOutcome(
                Outcome.FAILED,
                FailureClass.PRODUCT,
                supplier_code=o.supplier_code,
                message=f"supplier has no such transaction: {o.message}",
            )
        step = _apply_outcome(ctx, s, item, attempt, o, now, operation, result.exchanges)  # type: ignore[arg-type]
        uow.commit()
        return step


def _apply_outcome(
    ctx: FulfillmentContext,
    s: Session,
    item: PaymentItem,
    attempt: ItemAttempt,
    o: SupplierOutcome,
    now: datetime,
    operation: str,
    exchanges: list[Exchange],
) -> Step:
    supplier_code = s.get(Supplier, attempt.supplier_id).code  # type: ignore[union-attr]
    attempt.supplier_code = o.supplier_code or attempt.supplier_code
    attempt.supplier_txn_id = o.supplier_txn_id or attempt.supplier_txn_id
    attempt.message = (o.message or "")[:300] or attempt.message
    if operation == "purchase" and exchanges:
        attempt.request_json, attempt.response_json = exchanges[-1].request, _as_json(exchanges[-1].response)
        attempt.latency_ms = exchanges[-1].latency_ms
    if operation == "status":
        attempt.checks += 1
    cause = f"{supplier_code} {operation}: {o.outcome}" + (f" ({o.failure_class})" if o.failure_class else "")
    cause += f" {o.supplier_code or ''} {o.message}".rstrip()
    if o.outcome is Outcome.SUCCESS:
        attempt.state, attempt.finished_at, attempt.next_check_at = "SUCCESS", now, None
        record_supplier_success(s, attempt.supplier_id)
        transition_item(
            s,
            item.id,
            It.SUCCESS,
            from_={It.PROCESSING},
            cause=cause,
            actor=f"supplier:{supplier_code}",  # type: ignore[arg-type]
            values={"artifact": o.artifact, "next_check_at": None},
        )
        finish_payment_if_done(s, item.payment_id, public_url=ctx.public_url)
        return Step.DONE
    if o.outcome is Outcome.FAILED:
        attempt.state, attempt.failure_class, attempt.finished_at = "FAILED", str(o.failure_class), now
        attempt.next_check_at = None
        if o.failure_class is FailureClass.CUSTOMER:
            transition_item(
                s,
                item.id,
                It.FAILED,
                from_={It.PROCESSING},
                cause=cause,
                actor=f"supplier:{supplier_code}",  # type: ignore[arg-type]
                values={"failure_reason": (o.message or "rejected by supplier")[:300]},
            )
            finish_payment_if_done(s, item.payment_id, public_url=ctx.public_url)
            return Step.DONE
        record_supplier_failure(s, attempt.supplier_id, ctx.policy.breaker)
        if o.failure_class is FailureClass.CONFIG:
            raise_alert(
                s,
                condition="supplier_config",
                public_url=ctx.public_url,
                payment_id=item.payment_id,
                dedupe_key=f"supplier_config:{supplier_code}:{now:%Y%m%d%H}",
                title=f"{supplier_code}: configuration problem",
                body=f"{supplier_code} refused a purchase for a configuration reason ({o.supplier_code}: "
                f"{o.message}). Check balance, credentials and IP whitelist. Orders fall back meanwhile.",
            )
        return Step.NEXT
    # PENDING or UNKNOWN: wait for a callback or a status check; never fall back on a maybe
    if o.outcome is Outcome.UNKNOWN and operation == "purchase":
        record_supplier_failure(s, attempt.supplier_id, ctx.policy.breaker)
    backoff = ctx.policy.check_backoff[min(attempt.checks, len(ctx.policy.check_backoff) - 1)]
    attempt.state, attempt.next_check_at = str(o.outcome), now + backoff
    deadline = item.deadline_at or now + ctx.policy.deadline
    transition_item(
        s,
        item.id,
        It.SUPPLIER_PENDING,
        from_={It.PROCESSING},
        cause=cause,
        actor=f"supplier:{supplier_code}",  # type: ignore[arg-type]
        values={"deadline_at": deadline, "next_check_at": attempt.next_check_at},
    )
    if now >= deadline:
        transition_item(
            s,
            item.id,
            It.NEEDS_REVIEW,
            from_={It.SUPPLIER_PENDING},
            actor=ACTOR,  # type: ignore[arg-type]
            cause=f"{supplier_code} outcome still unknown past the deadline ({attempt.reference})",
        )
        raise_alert(
            s,
            condition="item_needs_review",
            payment_id=item.payment_id,
            public_url=ctx.public_url,
            title=f"Order {item.payment_id}: supplier outcome unknown",
            body=f"{supplier_code} has not confirmed reference {attempt.reference} since "
            f"{attempt.created_at:%Y-%m-%d %H:%M} UTC. Check with the supplier, then resolve the item.",
        )
        return Step.DONE
    outbox.record(s, topics.CHECK_ATTEMPT, {"attempt_id": attempt.id}, available_at=attempt.next_check_at)
    return Step.DONE


def _lock_item(s: Session, item_id: int) -> PaymentItem:
    s.execute(text("SELECT 1 FROM payment_items WHERE id = :id FOR NO KEY UPDATE"), {"id": item_id})
    item = s.get(PaymentItem, item_id, populate_existing=True)
    assert item is not None
    return item


def _status_of(ctx: FulfillmentContext, item_id: int) -> str:
    with ctx.uow() as uow:
        return uow.session.exec(select(PaymentItem.status).where(PaymentItem.id == item_id)).one()


def _purchase_request(
    s: Session, item: PaymentItem, sku: str, cost_idr: int, reference: str, callback_url: str
) -> PurchaseRequest:
    kind = s.exec(
        select(ProductCategory.kind)
        .join(Product, col(Product.category_id) == col(ProductCategory.id))
        .where(Product.id == item.product_id)
    ).one()
    return PurchaseRequest(
        reference=reference,
        sku=sku,
        target=item.target,
        zone=item.zone,
        expected_cost_idr=cost_idr,
        callback_url=callback_url,
        postpaid=kind == "postpaid",
    )


def _as_json(value: object) -> dict | None:
    if value is None or isinstance(value, dict):
        return value  # type: ignore[return-value]
    return {"body": str(value)[:4000]}


def _store_exchanges(s: Session, supplier_id: int, attempt_id: int | None, exchanges: list[Exchange]) -> None:
    for ex in exchanges:
        s.add(
            SupplierExchange(
                supplier_id=supplier_id,
                attempt_id=attempt_id,
                operation=ex.operation,
                method=ex.method,
                url=ex.url[:500],
                request_json=storable(ex.request),
                response_json=storable(ex.response),
                http_status=ex.http_status,
                latency_ms=ex.latency_ms,
                error=(ex.error or None) and ex.error[:300],
            )
        )


def check_attempt(ctx: FulfillmentContext, attempt_id: int) -> str:
    """The `check_attempt` message: advance the attempt's item (a status check if the attempt is still live)."""
    with ctx.uow() as uow:
        attempt = uow.session.get(ItemAttempt, attempt_id)
        if attempt is None:
            return "missing"
        item_id = attempt.item_id
    return advance_item(ctx, item_id, cause=f"status check of attempt {attempt_id}")
