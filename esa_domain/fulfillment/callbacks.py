"""Supplier callbacks: a fast path, never the only one. Polling stays the safety net.

A forged callback changes nothing (it is recorded as rejected). An unsigned supplier's callback, or one whose
claimed price differs from the attempt's, only triggers a status check. A final answer for a finished attempt is
ignored and recorded: a late FAILED never moves a SUCCESS backwards. A final answer that arrives while a purchase
call or a status check holds the item is recorded at once, under the item's lock; the call's own answer then
changes nothing (fulfillment.record_outcome_in applies only while the attempt is live).

Evidence beats review: a final answer for an item an operator is to decide (NEEDS_REVIEW, its attempt still
live) settles it through the same path (NEEDS_REVIEW -> PROCESSING -> its outcome, with history). What we read
from a trustworthy callback is kept with it (`outcome`), the item's "last word" (fulfillment.evidence).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from esa_domain.adapters.suppliers.base import (
    CallbackRequest,
    CallbackResult,
    CallResult,
    FailureClass,
    Outcome,
)
from esa_domain.core.states import ATTEMPT_LIVE, ItemStatus
from esa_domain.core.transitions import transition_item
from esa_domain.fulfillment.engine import FulfillmentContext, Step, record_outcome_in
from esa_domain.fulfillment.evidence import outcome_word
from esa_domain.infra import outbox, topics
from esa_domain.infra.bounded import bounded
from esa_domain.infra.db import driver
from esa_domain.infra.evidence import NUL, storable

RECHECK_SOON = timedelta(seconds=5)
log = logging.getLogger(__name__)

# the supplier's id and the attempt the callback names (if any), in one round trip
_LOOKUP = """
    SELECT (SELECT id FROM suppliers WHERE code = %(code)s) AS supplier_id,
        a.id, a.item_id, a.state, a.cost_idr, i.status AS item_status
    FROM (SELECT 1) AS one
    LEFT JOIN item_attempts a ON a.reference = %(reference)s
    LEFT JOIN payment_items i ON i.id = a.item_id
"""
# every callback is kept as received (redacted), with what we made of it
_RECORD = """
    INSERT INTO supplier_exchanges (supplier_id, attempt_id, operation, method, url, request_json,
        response_json, http_status, latency_ms, error, outcome, created_at)
    VALUES (%(supplier)s, %(attempt)s, 'callback', %(method)s, %(url)s, %(request)s, %(response)s,
        %(status)s, 0, %(error)s, %(outcome)s, clock_timestamp())
"""


def handle_callback(
    ctx: FulfillmentContext, supplier_code: str, request: CallbackRequest
) -> CallbackResult | None:
    """Handle one callback; returns the adapter's verdict (with the reply to send), or None for an unknown supplier."""
    adapter = ctx.adapters.get(supplier_code)
    if adapter is None:
        return None
    result = _parse(adapter, supplier_code, request)
    with ctx.uow() as uow:
        s = uow.session
        conn = driver(s)  # the hot path of every callback: straight to psycopg, in the session's transaction
        reference = result.reference if result.reference and NUL not in result.reference else None
        found = (
            conn.cursor(row_factory=namedtuple_row)
            .execute(_LOOKUP, {"code": supplier_code, "reference": reference})
            .fetchone()
        )
        assert found is not None  # one row always: the lookup selects FROM (SELECT 1)
        attempt = found if found.id is not None else None  # a NUL can be in no reference of ours
        verdict = _verdict(result, attempt)
        if found.supplier_id is not None:
            conn.execute(
                _RECORD,
                {
                    "supplier": found.supplier_id,
                    "attempt": attempt.id if attempt else None,
                    "method": request.method,
                    "url": f"/callbacks/{supplier_code}",  # a path may carry a secret segment
                    "request": Jsonb(storable(bounded(result.redacted))),  # even an unsigned one, bounded
                    "response": Jsonb(
                        {
                            "verdict": verdict,
                            "outcome": str(result.outcome.outcome) if result.outcome else None,
                        }
                    ),
                    "status": result.reply_status,
                    "error": None
                    if result.authenticated
                    else storable(result.reason or "not authenticated")[:300],
                    # the supplier's word, when it can be believed: signed, about an attempt of ours, its amount
                    # (when it states one) the attempt's
                    "outcome": outcome_word(result.outcome) if _trustworthy(result, attempt) else None,
                },
            )
        if verdict == "trigger":
            outbox.record(s, topics.CHECK_ATTEMPT, {"attempt_id": attempt.id})  # type: ignore[union-attr]
        if verdict == "apply":
            _apply(ctx, uow, supplier_code, attempt, result)
        uow.commit()
    return result


def _apply(
    ctx: FulfillmentContext, uow: Any, supplier_code: str, attempt: Any, result: CallbackResult
) -> None:
    """Record a final answer now, in the callback's transaction, under the item's lock (it applies only while
    the attempt is live; a purchase call's or a check's own answer then changes nothing). The item is claimed
    from SUPPLIER_PENDING or NEEDS_REVIEW (evidence beats review) unless a call in flight holds it."""
    s = uow.session
    held = attempt.item_status == ItemStatus.PROCESSING  # a purchase call or a check in flight holds it
    for _ in range(2):
        if not held:
            claim = transition_item(
                s,
                attempt.item_id,
                ItemStatus.PROCESSING,
                from_={ItemStatus.SUPPLIER_PENDING, ItemStatus.NEEDS_REVIEW},
                cause=f"{supplier_code} callback"
                + (" during review" if attempt.item_status == ItemStatus.NEEDS_REVIEW else ""),
                actor=f"supplier:{supplier_code}",
            )
            held = claim.applied or claim.current == ItemStatus.PROCESSING
            if not held:
                break
        step = record_outcome_in(
            ctx, uow, attempt.item_id, attempt.id, CallResult(result.outcome), operation="callback"
        )  # type: ignore[arg-type]
        if step is Step.NEXT:  # cannot happen (only terminal outcomes are applied); never strand it
            outbox.record(s, topics.CHECK_ATTEMPT, {"attempt_id": attempt.id})
            return
        if step is not Step.LOST:
            return
        # the item left PROCESSING between our read and its lock (the call in flight parked it as
        # SUPPLIER_PENDING): take it from where it is now, once
        held = False
    # an unexpected state: let a status check look again shortly
    outbox.record(
        s, topics.CHECK_ATTEMPT, {"attempt_id": attempt.id}, available_at=ctx.clock() + RECHECK_SOON
    )


def _parse(adapter, supplier_code: str, request: CallbackRequest) -> CallbackResult:  # type: ignore[no-untyped-def]
    """The adapter's reading of the callback; anything it cannot read is malformed: rejected, never a 5xx."""
    try:
        return adapter.parse_callback(request)
    except Exception as exc:  # deeply nested JSON, odd bytes in a signature header, ...
        log.warning("malformed %s callback rejected: %s", supplier_code, type(exc).__name__)
        return CallbackResult(
            authenticated=False,
            reference=None,
            outcome=None,
            reply_status=400,
            reply_body="malformed callback",
            reason=f"malformed: {type(exc).__name__}",
        )


def _trustworthy(result: CallbackResult, attempt: Any) -> bool:
    return (
        result.authenticated
        and attempt is not None
        and result.outcome is not None
        and (result.price_idr is None or result.price_idr == attempt.cost_idr)
    )


def _verdict(result: CallbackResult, attempt: Any) -> str:
    if not result.authenticated:
        return "rejected"
    if attempt is None:
        return "unknown reference"
    if attempt.state not in ATTEMPT_LIVE:
        return f"ignored: attempt already {attempt.state}"
    o = result.outcome
    if o is None or not o.is_final:
        return "trigger"
    if result.price_idr is not None and result.price_idr != attempt.cost_idr:
        return "trigger"  # the signature does not cover the body: believe a status check, not the amount
    if o.outcome is Outcome.FAILED and o.failure_class is not FailureClass.CUSTOMER:
        return "trigger"  # a fallback decision is made by a status check in a worker, not in a web request
    return "apply"
