"""The fulfillment engine for one item: cheapest supplier first, fallback only on a definite failure.

- The item is claimed by a compare-and-set (PENDING|SUPPLIER_PENDING -> PROCESSING); losing the claim is a no-op.
- An attempt row with its own reference is committed BEFORE the purchase request leaves.
- SUCCESS finishes the item; FAILED customer fails it; FAILED product/config moves to the next candidate;
  PENDING/UNKNOWN parks the item in SUPPLIER_PENDING and schedules a status check with back-off; past the
  deadline it goes to NEEDS_REVIEW with an alert. A partial unique index forbids two live attempts per item.
- Recording an outcome locks the item row first and applies only if the item is still PROCESSING and the
  attempt still live, so a slow worker, a callback and a status check can race without double effects.

This is the hottest path of the system, so it speaks SQL: the claim, its history row and the first attempt
share one transaction; recording an answer is one statement that stores the exchanges and takes the locks,
then one that moves attempt and item (compare-and-set, history row in the same statement).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from string import Formatter
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import (
    CallResult,
    Exchange,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierAdapter,
    SupplierOutcome,
)
from esa_domain.catalog.fx import PAIR
from esa_domain.core.states import (
    ATTEMPT,
    ATTEMPT_LIVE,
    ITEM,
    ITEM_FINAL,
    AttemptState,
    ItemStatus,
    PaymentStatus,
)
from esa_domain.core.transitions import initial_state, move, transition_item
from esa_domain.fulfillment import breaker, margin
from esa_domain.fulfillment.delivery import store_delivery
from esa_domain.fulfillment.evidence import outcome_word
from esa_domain.fulfillment.routing import (
    BreakerPolicy,
    Candidate,
    rank_candidates,
    ranked_offers_sql,
    take_probe,
)
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import UnitOfWork, execute, for_driver
from esa_domain.infra.evidence import storable
from esa_domain.operations.alerts import raise_alert
from esa_domain.ordering.bills import bill_for_attempt
from esa_domain.payments.settlement import SETTLED, after_settled, settle_ctes, settle_payment

log = logging.getLogger(__name__)
ACTOR = "system:fulfillment"
It, P, At = ItemStatus, PaymentStatus, AttemptState


@dataclass(frozen=True)
class FulfillmentPolicy:
    check_backoff: tuple[timedelta, ...] = tuple(
        timedelta(seconds=s) for s in (10, 30, 60, 120, 300, 600, 1800)
    )
    deadline: timedelta = timedelta(hours=2)  # an outcome still unknown past this goes to NEEDS_REVIEW
    not_found_grace: timedelta = timedelta(minutes=2)  # "no such transaction" is trusted only after this
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    # never buy above the item's price minus this (TWD) at the current rate; None: no floor
    # (esa_domain.fulfillment.margin; Settings.margin_floor_twd)
    margin_floor_twd: int | None = None


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


# One reference per (item, supplier), reused for every status check and resend to that supplier. One
# definition: Python formats it, and the SQL that inserts an attempt builds the same string from it.
REFERENCE = "ESA{item}S{supplier}"


def reference_for(item_id: int, supplier_id: int) -> str:
    return REFERENCE.format(item=item_id, supplier=supplier_id)


def reference_sql(item: str, supplier: str) -> str:
    """`REFERENCE` as an SQL expression over the item's and the supplier's id expressions."""
    parts = []
    for literal, field_name, _, _ in Formatter().parse(REFERENCE):
        if literal:
            parts.append("'" + literal.replace("'", "''") + "'")
        if field_name:
            parts.append({"item": item, "supplier": supplier}[field_name])
    return " || ".join(parts)


# ---- the statements ------------------------------------------------------------------------------------


def _sql_in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_LIVE = _sql_in(ATTEMPT_LIVE)
_CLAIMABLE = (It.PENDING, It.SUPPLIER_PENDING, It.WAITING)
_FLOOR = "CAST(:margin_floor AS integer)"  # the margin floor (esa_domain.fulfillment.margin)
_ITEM_FACTS = """
    JOIN payments p ON p.id = i.payment_id
    JOIN products pr ON pr.id = i.product_id
    JOIN product_categories k ON k.id = pr.category_id"""

# Claim the item (CAS, history row) for a paid order and, unless it has a live attempt, insert the attempt
# at the cheapest candidate: one statement. Answers what the purchase needs; no attempt if no candidate, or if
# the cheapest is half-open and another item won its one probe (then routing runs again).
_CLAIMED = move(
    ITEM,
    to=It.PROCESSING,
    from_=_CLAIMABLE,
    where=f"t.id = :item AND EXISTS (SELECT 1 FROM payments p WHERE p.id = t.payment_id AND p.status = '{P.PAID}')",  # noqa: S608
    returning=", t.product_id, t.target, t.zone",
    cause=":cause",
    actor=":actor",
    name="claimed",
)
_CLAIM = for_driver(
    text(
        f"""
    WITH {_CLAIMED}, facts AS (
        SELECT i.to_status AS status, i.id, i.payment_id, i.product_id, i.target, i.zone, k.kind, p.fx_rate,
            (SELECT a.id FROM item_attempts a WHERE a.item_id = i.id AND a.state IN {_LIVE} LIMIT 1) AS live_id
        FROM claimed i {_ITEM_FACTS}
    ), best AS (
        SELECT b.* FROM facts f
        CROSS JOIN LATERAL ({ranked_offers_sql("f.id", "f.product_id", "f.fx_rate", _FLOOR)} LIMIT 1) b
        WHERE f.live_id IS NULL
    ), {breaker.probe_ctes("best", "(SELECT f.id FROM facts f)")}, attempt AS (
        INSERT INTO item_attempts (item_id, supplier_id, reference, state, cost_idr, cost_twd, checks,
            created_at)
        SELECT f.id, b.supplier_id, {reference_sql("f.id", "b.supplier_id")}, '{initial_state(ATTEMPT)}',
            b.cost_idr, b.cost_twd, 0, clock_timestamp()
        FROM facts f CROSS JOIN best b
        WHERE {breaker.probe_allowed("b")}
        RETURNING id, reference
    )
    SELECT f.*, b.supplier_id, b.supplier_code, b.sku, b.cost_idr, b.cost_twd,
        a.id AS attempt_id, a.reference
    FROM facts f LEFT JOIN best b ON true LEFT JOIN attempt a ON true
    """  # noqa: S608 (constants only)
    )
)
# the item again, locked, for the next candidate after a definite failure
_LOCK_ITEM = text(
    f"""
    SELECT i.status, i.payment_id, i.product_id, i.target, i.zone, k.kind, p.fx_rate, NULL AS live_id
    FROM payment_items i {_ITEM_FACTS}
    WHERE i.id = :item
    FOR NO KEY UPDATE OF i
    """  # noqa: S608 (constants only)
)
_STATUS = text("SELECT status FROM payment_items WHERE id = :item")
_NEW_ATTEMPT = text(
    f"""
    INSERT INTO item_attempts (item_id, supplier_id, reference, state, cost_idr, cost_twd, checks, created_at)
    VALUES (:item, :supplier, {reference_sql("CAST(:item AS bigint)", "CAST(:supplier AS bigint)")},
        '{initial_state(ATTEMPT)}', :cost_idr, :cost_twd, 0, clock_timestamp())
    RETURNING id, reference
    """  # noqa: S608 (constants only)
)
# store the exchanges, then lock item, attempt and payment (in that order: everyone locks item before payment)
_LOCK_FOR_OUTCOME = for_driver(
    text(
        """
    WITH ex AS (
        INSERT INTO supplier_exchanges (supplier_id, attempt_id, operation, method, url, request_json,
            response_json, http_status, latency_ms, error, outcome, created_at)
        SELECT a.supplier_id, a.id, x.operation, x.method, x.url, x.request_json, x.response_json,
            x.http_status, x.latency_ms, x.error, x.outcome, clock_timestamp()
        FROM item_attempts a
        CROSS JOIN jsonb_to_recordset(CAST(:exchanges AS jsonb)) AS x(operation text, method text, url text,
            request_json jsonb, response_json jsonb, http_status int, latency_ms int, error text, outcome text)
        WHERE a.id = :attempt
    )
    SELECT i.status, i.payment_id, i.product_id, i.deadline_at, a.state, a.checks, a.created_at, a.supplier_id,
        a.reference, s.code AS supplier
    FROM payment_items i
    JOIN item_attempts a ON a.id = :attempt
    JOIN payments p ON p.id = i.payment_id
    JOIN suppliers s ON s.id = a.supplier_id
    WHERE i.id = :item
    FOR NO KEY UPDATE OF i, a, p
    """
    )
)
_ITEM_COLUMNS = {
    It.SUCCESS: ", artifact = :artifact, next_check_at = NULL",
    It.FAILED: ", failure_reason = :failure_reason",
    It.SUPPLIER_PENDING: ", deadline_at = :deadline_at, next_check_at = :next_check_at",
}
# an answer about a live attempt: compare-and-set on its state (a settled attempt is never rewritten)
_ATTEMPT_ANSWER = move(
    ATTEMPT,
    to="|".join(ATTEMPT.transitions[At.SENDING]),
    to_sql=":state",
    lock=False,
    where="t.id = :attempt",
    sets="""
        , failure_class = COALESCE(:failure_class, failure_class),
        supplier_code = COALESCE(:supplier_code, supplier_code),
        supplier_txn_id = COALESCE(:supplier_txn_id, supplier_txn_id),
        message = COALESCE(:message, message),
        request_json = CASE WHEN :purchase THEN CAST(:request_json AS jsonb) ELSE request_json END,
        response_json = CASE WHEN :purchase THEN CAST(:response_json AS jsonb) ELSE response_json END,
        latency_ms = CASE WHEN :purchase THEN :latency_ms ELSE latency_ms END,
        checks = checks + :checks_added,
        finished_at = COALESCE(:finished_at, finished_at),
        next_check_at = :next_check_at""",
    name="att",
)


def _outcome_sql(to: ItemStatus) -> str:
    """Attempt update, breaker reset (or close, for the probe), item CAS PROCESSING -> `to` with its history row
    and, once every item of the payment is final, the payment's settlement; answers how the payment settled
    (`settled`, or NULL) and whether a breaker closed.
    The item's and the payment's locks are held since the lock step."""
    moved = move(
        ITEM,
        to=to,
        from_=[It.PROCESSING],
        lock=False,
        where="t.id = :item",
        sets=_ITEM_COLUMNS[to],
        cause=":cause",
        actor=":actor",
        name="moved",
    )
    final = to in ITEM_FINAL
    settles = f", {settle_ctes(':item', repr(str(to)))}" if final else ""
    return for_driver(
        text(
            f"""
        WITH {_ATTEMPT_ANSWER}, {breaker.SUCCESS_CTES}, {moved}{settles}
        SELECT (SELECT count(*) FROM moved) AS moved, {SETTLED if final else "NULL AS settled"},
            {breaker.SUCCESS_COLUMNS}
        """  # noqa: S608 (constants only)
        )
    )


_OUTCOME = {to: _outcome_sql(to) for to in _ITEM_COLUMNS}


@dataclass(frozen=True)
class _Item:
    status: str
    payment_id: int
    product_id: int
    target: str
    zone: str | None
    postpaid: bool
    fx_rate: Decimal
    live_attempt_id: int | None

    @classmethod
    def of(cls, row: Any) -> _Item:
        return cls(
            row.status,
            row.payment_id,
            row.product_id,
            row.target,
            row.zone,
            row.kind == "postpaid",
            row.fx_rate,
            row.live_id,
        )


# ---- the engine ----------------------------------------------------------------------------------------


def advance_item(ctx: FulfillmentContext, item_id: int, *, cause: str = "fulfillment") -> str:
    """Claim the item and move it on: check its live attempt if it has one, else buy from the next candidate.

    Idempotent by state: a message for an item someone else holds, or that is finished, changes nothing.
    """
    with ctx.uow() as uow:
        params = {
            "item": item_id,
            "cause": cause[:300],
            "actor": ACTOR,
            "pair": PAIR,
            "now": ctx.clock(),
            "cooldown": ctx.policy.breaker.cooldown,
            "margin_floor": ctx.policy.margin_floor_twd,
        }
        try:
            row = execute(uow.session, _CLAIM, params).fetchone()
        except psycopg.errors.UniqueViolation:
            uow.rollback()  # another worker holds a live attempt for this item
            return Step.LOST
        if row is None:  # not paid, someone else holds it, or it is finished
            status = uow.session.connection().execute(_STATUS, {"item": item_id}).scalar_one_or_none()
            return status or "missing"
        item = _Item.of(row)
        if item.live_attempt_id is not None:
            uow.commit()
            return _check_status(ctx, item_id, item.live_attempt_id)
        if row.attempt_id is None and row.supplier_id is not None:  # another item won the cheapest's probe
            planned = _plan_purchase(ctx, uow, item_id, item)
            return planned if isinstance(planned, str) else _buy(ctx, uow, item_id, *planned)
        if row.attempt_id is None:  # no candidate: the claim and the item's wait or failure commit together
            return _no_candidate(ctx, uow, item_id, item)
        uow.commit()  # the attempt exists before the request leaves
        best = Candidate(row.supplier_id, row.supplier_code, row.sku, row.cost_idr, row.cost_twd)
        return _buy(ctx, uow, item_id, row.attempt_id, best, _request(ctx, item, best, row.reference))


def _purchase_loop(ctx: FulfillmentContext, item_id: int, uow: UnitOfWork | None = None) -> str:
    if uow is None:
        with ctx.uow() as own:
            return _purchase_loop(ctx, item_id, own)
    row = uow.session.connection().execute(_LOCK_ITEM, {"item": item_id}).one()
    if row.status != It.PROCESSING:
        uow.rollback()
        return row.status
    planned = _plan_purchase(ctx, uow, item_id, _Item.of(row))
    return planned if isinstance(planned, str) else _buy(ctx, uow, item_id, *planned)


def _plan_purchase(
    ctx: FulfillmentContext, uow: UnitOfWork, item_id: int, item: _Item
) -> str | tuple[int, Candidate, PurchaseRequest]:
    """With the item PROCESSING and locked: commit an attempt at the best candidate, or fail the item."""
    s = uow.session
    now = ctx.clock()
    candidates = rank_candidates(
        s, item_id, item.product_id, now, fallback_rate=item.fx_rate, margin_floor=ctx.policy.margin_floor_twd
    )
    best = next(
        (c for c in candidates if take_probe(s, c, item_id, item.product_id, now, ctx.policy.breaker)), None
    )
    if best is None:
        return _no_candidate(ctx, uow, item_id, item)
    try:
        attempt_id, reference = (
            s.connection()
            .execute(
                _NEW_ATTEMPT,
                {
                    "item": item_id,
                    "supplier": best.supplier_id,
                    "cost_idr": best.cost_idr,
                    "cost_twd": best.cost_twd,
                },
            )
            .one()
        )
        uow.commit()  # the attempt exists before the request leaves
    except IntegrityError:
        uow.rollback()  # another worker holds a live attempt for this item
        return Step.LOST
    return attempt_id, best, _request(ctx, item, best, reference)


_PAID_AT = text("SELECT paid_at FROM payments WHERE id = :payment")


def _no_candidate(ctx: FulfillmentContext, uow: UnitOfWork, item_id: int, item: _Item) -> str:
    """No supplier may be tried now. If some are only held back (an open breaker, a deposit too low), the item
    WAITS for them and a worker takes it up again when one may be tried; it fails only when none is left."""
    s = uow.session
    now = ctx.clock()
    policy = ctx.policy.breaker
    hold = margin.over_floor(
        s, item_id, item.product_id, now, fallback_rate=item.fx_rate, floor_twd=ctx.policy.margin_floor_twd
    )
    if hold is not None:  # a supplier could deliver, but only at a loss: an operator decides
        margin.wait_for_operator(s, item_id, item.payment_id, hold, actor=ACTOR, public_url=ctx.public_url)
        uow.commit()
        return It.WAITING
    held = breaker.held_back(s, item_id, item.product_id, now, policy)
    if held is None:
        return _fail_item(ctx, uow, item_id, item)
    why = "; ".join(held.reasons)
    transition_item(
        s,
        item_id,
        It.WAITING,
        from_={It.PROCESSING},
        cause=f"waiting for a held-back supplier: {why}"[:300],
        actor=ACTOR,
        values={"next_check_at": held.wake_at},
    )
    outbox.record(s, topics.FULFILL_ITEM, {"item_id": item_id}, available_at=held.wake_at)
    paid_at = s.connection().execute(_PAID_AT, {"payment": item.payment_id}).scalar_one_or_none()
    if paid_at is not None and now - paid_at >= policy.wait_alert_after:
        minutes = int((now - paid_at).total_seconds() // 60)
        raise_alert(
            s,
            condition="supplier_wait",
            payment_id=item.payment_id,
            public_url=ctx.public_url,
            title=f"Order {item.payment_id}: waiting {minutes} min for a held-back supplier",
            body=f"Item {item_id} is paid and every supplier that could deliver it is held back ({why})."[
                :900
            ]
            + " It is not failed or refunded for it: it is bought as soon as one may be tried. Top up the "
            "deposit or check the supplier.",
        )
    uow.commit()
    return It.WAITING


def _fail_item(ctx: FulfillmentContext, uow: UnitOfWork, item_id: int, item: _Item) -> str:
    """No candidate is left: the item fails (and the payment settles if it was the last one)."""
    s = uow.session
    tried = (
        s.connection()
        .execute(text("SELECT count(*) FROM item_attempts WHERE item_id = :item"), {"item": item_id})
        .scalar_one()
    )
    reason = f"no supplier could deliver ({tried} tried)" if tried else "no supplier offers it"
    transition_item(
        s,
        item_id,
        It.FAILED,
        from_={It.PROCESSING},
        cause=reason,
        actor=ACTOR,
        values={"failure_reason": reason},
    )
    settle_payment(s, item.payment_id, public_url=ctx.public_url)
    uow.commit()
    return It.FAILED


def _request(ctx: FulfillmentContext, item: _Item, best: Candidate, reference: str) -> PurchaseRequest:
    bill = None
    if item.postpaid:  # a bill pays the inquiry the customer saw (esa_domain.ordering.bills)
        with ctx.uow() as own:
            bill = bill_for_attempt(own.session, reference)
    return PurchaseRequest(
        reference=reference,
        sku=best.sku,
        target=item.target,
        zone=item.zone,
        expected_cost_idr=best.cost_idr,
        callback_url=ctx.callback_url(best.supplier_code),
        postpaid=item.postpaid,
        bill=bill,
    )


def _buy(
    ctx: FulfillmentContext,
    uow: UnitOfWork,
    item_id: int,
    attempt_id: int,
    best: Candidate,
    request: PurchaseRequest,
) -> str:
    """Send the purchase and record its answer. The unit of work's connection stays checked out, idle and
    outside any transaction, while the supplier answers: one pool checkout per purchase, and nothing (no
    check-in round trip) between the attempt's commit and the request leaving."""
    result = _call(ctx.adapters.get(best.supplier_code), "purchase", request)
    step, status = _record_in(ctx, uow, item_id, attempt_id, result, operation="purchase")
    uow.commit()
    if step is Step.NEXT:
        return _purchase_loop(ctx, item_id, uow)
    return status


def _check_status(ctx: FulfillmentContext, item_id: int, attempt_id: int) -> str:
    result = _status_call(ctx, attempt_id)
    step, status = _record(ctx, item_id, attempt_id, result, operation="status")
    if step is Step.NEXT:
        return _purchase_loop(ctx, item_id)
    return status


def _status_call(ctx: FulfillmentContext, attempt_id: int) -> CallResult:
    """Ask the attempt's supplier about it (same reference), outside any transaction."""
    with ctx.uow() as uow:
        row = (
            uow.session.connection()
            .execute(
                text(
                    f"""
                    SELECT a.reference, a.cost_idr, s.code, o.supplier_sku, i.target, i.zone, k.kind
                    FROM item_attempts a
                    JOIN suppliers s ON s.id = a.supplier_id
                    JOIN payment_items i ON i.id = a.item_id {_ITEM_FACTS}
                    LEFT JOIN supplier_offers o ON o.supplier_id = a.supplier_id AND o.product_id = i.product_id
                    WHERE a.id = :attempt
                    """  # noqa: S608 (constants only)
                ),
                {"attempt": attempt_id},
            )
            .one()
        )
        bill = bill_for_attempt(uow.session, row.reference) if row.kind == "postpaid" else None
    request = PurchaseRequest(
        reference=row.reference,
        sku=row.supplier_sku or "",
        target=row.target,
        zone=row.zone,
        expected_cost_idr=row.cost_idr,
        callback_url=ctx.callback_url(row.code),
        postpaid=row.kind == "postpaid",
        bill=bill,
    )
    return _call(ctx.adapters.get(row.code), "check_status", request)


def _review_check_at(ctx: FulfillmentContext, now: datetime) -> datetime:
    return now + ctx.policy.check_backoff[-1]


def _check_in_review(ctx: FulfillmentContext, item_id: int, attempt_id: int) -> str:
    """A status check of an item an operator is to decide: a definite answer settles it through the normal
    path (NEEDS_REVIEW -> PROCESSING -> its outcome, with history), evidence before an operator's guess; any
    other answer is kept on record and the supplier is asked again later."""
    result = _status_call(ctx, attempt_id)
    with ctx.uow() as uow:
        s = uow.session
        if not (result.outcome.is_final or result.outcome.no_transaction):
            _record_in(ctx, uow, item_id, attempt_id, result, operation="status")  # on record; moves nothing
            outbox.record(
                s,
                topics.CHECK_ATTEMPT,
                {"attempt_id": attempt_id},
                available_at=_review_check_at(ctx, ctx.clock()),
            )
            uow.commit()
            return It.NEEDS_REVIEW
        claim = transition_item(
            s,
            item_id,
            It.PROCESSING,
            from_={It.NEEDS_REVIEW},
            cause=f"supplier answered a status check during review: {result.outcome.outcome}",
            actor=ACTOR,
        )
        if not claim.applied:  # an operator or a callback settled it meanwhile
            uow.rollback()
            return claim.current
        step, status = _record_in(ctx, uow, item_id, attempt_id, result, operation="status")
        uow.commit()
        if step is Step.NEXT:  # a definite failure that is not the customer's: nothing was bought there
            return _purchase_loop(ctx, item_id)
        return status


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


def record_outcome_in(
    ctx: FulfillmentContext,
    uow: UnitOfWork,
    item_id: int,
    attempt_id: int,
    result: CallResult,
    *,
    operation: str,
) -> Step:
    """Apply one supplier answer inside the caller's transaction (the caller commits), holding the item's row
    lock; it applies only while the attempt is live."""
    return _record_in(ctx, uow, item_id, attempt_id, result, operation=operation)[0]


def _record(
    ctx: FulfillmentContext, item_id: int, attempt_id: int, result: CallResult, *, operation: str
) -> tuple[Step, str]:
    """Apply one supplier answer in its own transaction; answers the step and the item's status afterwards."""
    with ctx.uow() as uow:
        outcome = _record_in(ctx, uow, item_id, attempt_id, result, operation=operation)
        uow.commit()
        return outcome


def _record_in(
    ctx: FulfillmentContext,
    uow: UnitOfWork,
    item_id: int,
    attempt_id: int,
    result: CallResult,
    *,
    operation: str,
) -> tuple[Step, str]:
    now = ctx.clock()
    o = result.outcome
    s = uow.session
    row = execute(
        s,
        _LOCK_FOR_OUTCOME,
        {
            "item": item_id,
            "attempt": attempt_id,
            "exchanges": _exchanges_json(result.exchanges, outcome_word(result.outcome)),
        },
    ).fetchone()
    if row is None:
        raise LookupError(f"item {item_id} or its attempt {attempt_id} is missing")
    if row.status != It.PROCESSING or row.state not in ATTEMPT_LIVE:
        return Step.LOST, row.status  # the exchanges stay on record; the owner of the item decides
    if (
        o.outcome is Outcome.FAILED
        and o.failure_class is not FailureClass.CUSTOMER
        and operation == "status"
        and row.state == At.UNKNOWN
        and now - row.created_at < ctx.policy.not_found_grace
    ):
        o = SupplierOutcome(Outcome.UNKNOWN, message=f"not trusted yet within grace: {o.message}")
    elif o.no_transaction and operation == "status" and now - row.created_at >= ctx.policy.not_found_grace:
        # proven absent after the grace period: nothing was bought, so the next supplier is safe
        o = SupplierOutcome(
            Outcome.FAILED,
            FailureClass.PRODUCT,
            supplier_code=o.supplier_code,
            message=f"supplier has no such transaction: {o.message}",
        )
    return _apply_outcome(ctx, s, item_id, attempt_id, row, o, now, operation, result.exchanges)


def _apply_outcome(
    ctx: FulfillmentContext,
    s: Session,
    item_id: int,
    attempt_id: int,
    row: Any,
    o: SupplierOutcome,
    now: datetime,
    operation: str,
    exchanges: list[Exchange],
) -> tuple[Step, str]:
    supplier_code = row.supplier
    actor = f"supplier:{supplier_code}"
    cause = f"{supplier_code} {operation}: {o.outcome}" + (f" ({o.failure_class})" if o.failure_class else "")
    cause += f" {o.supplier_code or ''} {o.message}".rstrip()
    purchase = operation == "purchase" and bool(exchanges)
    params: dict[str, Any] = {
        "item": item_id,
        "attempt": attempt_id,
        "payment": row.payment_id,
        "supplier": row.supplier_id,
        "failure_class": None,
        "supplier_code": o.supplier_code or None,
        "supplier_txn_id": o.supplier_txn_id or None,
        "message": (o.message or "")[:300] or None,
        "purchase": purchase,
        "request_json": json.dumps(storable(exchanges[-1].request)) if purchase else None,
        "response_json": json.dumps(storable(_as_json(exchanges[-1].response))) if purchase else None,
        "latency_ms": exchanges[-1].latency_ms if purchase else None,
        "checks_added": 1 if operation == "status" else 0,
        "finished_at": None,
        "next_check_at": None,
        "healthy": False,
        "product": row.product_id,
        "cause": cause[:300],
        "actor": actor[:80],
    }
    if o.outcome is Outcome.SUCCESS:
        params |= {"state": At.SUCCESS, "finished_at": now, "healthy": True, "artifact": o.artifact}
        succeeded = execute(s, _OUTCOME[It.SUCCESS], params).fetchone()
        if succeeded is not None and succeeded.moved:  # what was delivered, in the same transaction
            store_delivery(s, item_id, attempt_id, o.delivery)
        _settled(s, row.payment_id, succeeded)
        if succeeded is not None and (succeeded.supplier_closed or succeeded.offer_closed):
            _breaker_closed(ctx, s, row, succeeded, now)
        return Step.DONE, It.SUCCESS
    if o.outcome is Outcome.FAILED:
        params |= {"state": At.FAILED, "failure_class": str(o.failure_class), "finished_at": now}
        if o.failure_class is FailureClass.CUSTOMER:
            params["failure_reason"] = (o.message or "rejected by supplier")[:300]
            _settled(s, row.payment_id, execute(s, _OUTCOME[It.FAILED], params).fetchone())
            return Step.DONE, It.FAILED
        execute(s, _ATTEMPT_ONLY, params)  # the item stays PROCESSING for the next candidate
        _breaker_failure(ctx, s, item_id, row, o, operation, now)
        if o.failure_class is FailureClass.CONFIG:
            raise_alert(
                s,
                condition="supplier_config",
                public_url=ctx.public_url,
                payment_id=row.payment_id,
                dedupe_key=f"supplier_config:{supplier_code}:{now:%Y%m%d%H}",
                title=f"{supplier_code}: configuration problem",
                body=f"{supplier_code} refused a purchase for a configuration reason ({o.supplier_code}: "
                f"{o.message}). Check balance, credentials and IP whitelist. Orders fall back meanwhile.",
            )
        return Step.NEXT, It.PROCESSING
    # PENDING or UNKNOWN: wait for a callback or a status check; never fall back on a maybe
    if o.outcome is Outcome.UNKNOWN and operation == "purchase":
        _breaker_failure(ctx, s, item_id, row, o, operation, now)
    checks = row.checks + params["checks_added"]
    next_check_at = now + ctx.policy.check_backoff[min(checks, len(ctx.policy.check_backoff) - 1)]
    deadline = row.deadline_at or now + ctx.policy.deadline
    params |= {"state": At(o.outcome), "next_check_at": next_check_at, "deadline_at": deadline}
    execute(s, _OUTCOME[It.SUPPLIER_PENDING], params)
    if now >= deadline:
        transition_item(
            s,
            item_id,
            It.NEEDS_REVIEW,
            from_={It.SUPPLIER_PENDING},
            actor=ACTOR,
            cause=f"{supplier_code} outcome still unknown past the deadline ({row.reference})",
        )
        raise_alert(
            s,
            condition="item_needs_review",
            payment_id=row.payment_id,
            public_url=ctx.public_url,
            title=f"Order {row.payment_id}: supplier outcome unknown",
            body=f"{supplier_code} has not confirmed reference {row.reference} since "
            f"{row.created_at:%Y-%m-%d %H:%M} UTC. Check with the supplier, then resolve the item.",
        )
        # the supplier is still asked now and then: a definite answer settles the item before a person guesses
        outbox.record(
            s, topics.CHECK_ATTEMPT, {"attempt_id": attempt_id}, available_at=_review_check_at(ctx, now)
        )
        return Step.DONE, It.NEEDS_REVIEW
    outbox.record(s, topics.CHECK_ATTEMPT, {"attempt_id": attempt_id}, available_at=next_check_at)
    return Step.DONE, It.SUPPLIER_PENDING


_PRODUCT_CODE = text("SELECT code FROM products WHERE id = :product")


def _breaker_failure(
    ctx: FulfillmentContext,
    s: Session,
    item_id: int,
    row: Any,
    o: SupplierOutcome,
    operation: str,
    now: datetime,
) -> None:
    """Count a failure that says something about the supplier (or its offer) against its breaker; alert when
    it opens. A customer failure (one destination's problem) never counts."""
    scope = breaker.counted_scope(o, operation)
    if scope is None:
        return
    policy = ctx.policy.breaker
    done = breaker.record_failure(
        s,
        scope,
        supplier_id=row.supplier_id,
        product_id=row.product_id,
        item_id=item_id,
        now=now,
        policy=policy,
    )
    if done is not None and done.opened:
        product = s.connection().execute(_PRODUCT_CODE, {"product": row.product_id}).scalar_one_or_none()
        why = f"{o.outcome}" + (f" {o.failure_class}" if o.failure_class else "") + f": {o.message}"[:120]
        breaker.alert_opened(
            s,
            scope,
            supplier_code=row.supplier,
            product_code=product,
            why=why.rstrip(": "),
            failures=done.failures,
            now=now,
            policy=policy,
            public_url=ctx.public_url,
        )


def _breaker_closed(ctx: FulfillmentContext, s: Session, row: Any, closed: Any, now: datetime) -> None:
    """The probe succeeded: say so, and take up the items waiting for a held-back supplier."""
    product = s.connection().execute(_PRODUCT_CODE, {"product": row.product_id}).scalar_one_or_none()
    for scope, did in (
        (breaker.Scope.SUPPLIER, closed.supplier_closed),
        (breaker.Scope.OFFER, closed.offer_closed),
    ):
        if did:
            breaker.alert_closed(
                s, scope, supplier_code=row.supplier, product_code=product, now=now, public_url=ctx.public_url
            )
    breaker.wake_waiting(s, None if closed.supplier_closed else row.product_id)


# a definite product/config failure: the attempt is finished, the item stays with this worker
_ATTEMPT_ONLY = for_driver(text(f"WITH {_ATTEMPT_ANSWER} SELECT count(*) FROM att"))  # noqa: S608


def _settled(s: Session, payment_id: int, outcome: Any) -> None:
    if outcome is not None and outcome.settled is not None:
        after_settled(s, payment_id, outcome.settled)


def _as_json(value: object) -> dict | None:
    if value is None or isinstance(value, dict):
        return value  # type: ignore[return-value]
    return {"body": str(value)[:4000]}


def _exchanges_json(exchanges: list[Exchange], outcome: str | None = None) -> str:
    """The exchanges as one JSON array for the statement that stores them (secrets already redacted); the last
    one carries `outcome`, what we read from the call."""
    return json.dumps(
        [
            {
                "operation": ex.operation,
                "method": ex.method,
                "url": storable(ex.url[:500]),
                "request_json": storable(ex.request),
                "response_json": storable(ex.response),
                "http_status": ex.http_status,
                "latency_ms": ex.latency_ms,
                "error": (ex.error or None) and storable(ex.error[:300]),
                "outcome": outcome if n == len(exchanges) - 1 else None,
            }
            for n, ex in enumerate(exchanges)
        ]
    )


def check_attempt(ctx: FulfillmentContext, attempt_id: int) -> str:
    """The `check_attempt` message: advance the attempt's item (a status check if the attempt is still live);
    an item in review whose attempt is live gets a status check whose definite answer settles it."""
    with ctx.uow() as uow:
        found = (
            uow.session.connection()
            .execute(
                text(
                    "SELECT a.item_id, a.state, i.status FROM item_attempts a "
                    "JOIN payment_items i ON i.id = a.item_id WHERE a.id = :a"
                ),
                {"a": attempt_id},
            )
            .first()
        )
        if found is None:
            return "missing"
    if found.status == It.NEEDS_REVIEW and found.state in ATTEMPT_LIVE:
        return _check_in_review(ctx, found.item_id, attempt_id)
    return advance_item(ctx, found.item_id, cause=f"status check of attempt {attempt_id}")
