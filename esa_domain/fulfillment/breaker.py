"""The circuit breaker: a supplier (or one supplier's one product) held back after failures that say something
about it, one probe after the cool-down, closed by that probe's success.

Two scopes share the same three columns (`consecutive_failures`, `circuit_open_until`, `probe_item_id`):
- the supplier (`suppliers`): configuration failures (credentials, IP whitelist, not allowed) and purchases
  whose answer never came (timeouts, 5xx) say the supplier is in trouble;
- the offer (`supplier_offers`, one supplier x one product): "out of stock" says that product at that supplier
  is in trouble, not the supplier's other products.
A failure tied to one destination (a wrong number, a customer failure) never counts.

States, per scope:
- closed (`circuit_open_until IS NULL`): counted failures add up; any success resets the count; at
  `threshold` in a row the circuit opens for `cooldown` (alert).
- open (`circuit_open_until > now`): routing skips it. Late failures change nothing; a late success of an old
  request does not close it either: it proves nothing about now.
- half-open (`circuit_open_until <= now`): the next purchase that routing gives it takes the one probe
  (`probe_item_id`, and the lease `circuit_open_until = now + cooldown`, so no second request goes through
  meanwhile). The probe's success closes it (alert) and wakes the items waiting for it; the probe's failure
  opens it again for a cool-down; a probe left unanswered past its lease lets the next one through.

An item whose only remaining candidates are held back (open breaker, or a deposit that cannot cover the cost)
WAITS for them (esa_domain.fulfillment.engine); it is never failed for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import FailureClass, Outcome, SupplierOutcome
from esa_domain.core.states import ItemStatus
from esa_domain.infra import outbox, topics
from esa_domain.operations.alerts import raise_alert


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5  # consecutive counted failures that open the circuit
    cooldown: timedelta = timedelta(minutes=5)  # then one probe is let through
    wait_alert_after: timedelta = timedelta(minutes=30)  # a paid item waiting this long for one: alert


class Scope(StrEnum):
    SUPPLIER = "supplier"
    OFFER = "offer"


def counted_scope(outcome: SupplierOutcome, operation: str) -> Scope | None:
    """Which breaker a failure counts against, if any: only failures that say something about the supplier."""
    if outcome.outcome is Outcome.FAILED:
        if outcome.failure_class is FailureClass.CONFIG:
            return Scope.SUPPLIER
        if outcome.failure_class is FailureClass.PRODUCT:
            return Scope.OFFER  # out of stock (or no such product): that supplier's that product
        return None  # CUSTOMER: one destination's problem
    if outcome.outcome is Outcome.UNKNOWN and operation == "purchase":
        return Scope.SUPPLIER  # no answer to a purchase: timeouts, 5xx
    return None


# ---- SQL pieces the engine's statements are composed of ---------------------------------------------------

LEASE_SQL = "CAST(:now AS timestamptz) + CAST(:cooldown AS interval)"


def probe_ctes(best: str, item: str) -> str:
    """Two CTEs (`probe_s`, `probe_o`) that take the probe of the best candidate's half-open breakers for
    `item`. `best` is a relation with supplier_id, product_id, supplier_open_until, offer_open_until; binds
    :now and :cooldown. Under concurrency only one statement wins a probe: the loser's UPDATE re-reads the row
    after the winner commits and finds the lease in the future."""
    return f"""
    probe_s AS (
        UPDATE suppliers s SET circuit_open_until = {LEASE_SQL}, probe_item_id = {item}
        FROM {best} b
        WHERE s.id = b.supplier_id AND b.supplier_open_until IS NOT NULL
          AND s.circuit_open_until IS NOT NULL AND s.circuit_open_until <= :now
        RETURNING s.id
    ), probe_o AS (
        UPDATE supplier_offers o SET circuit_open_until = {LEASE_SQL}, probe_item_id = {item}
        FROM {best} b
        WHERE o.supplier_id = b.supplier_id AND o.product_id = b.product_id AND b.offer_open_until IS NOT NULL
          AND o.circuit_open_until IS NOT NULL AND o.circuit_open_until <= :now
        RETURNING o.id
    )"""  # noqa: S608 (expressions from this package only)


def probe_allowed(b: str) -> str:
    """SQL: the candidate `b` may be bought from (its half-open breakers' probes were won by this statement)."""
    return (
        f"({b}.supplier_open_until IS NULL OR EXISTS (SELECT 1 FROM probe_s)) "  # noqa: S608
        f"AND ({b}.offer_open_until IS NULL OR EXISTS (SELECT 1 FROM probe_o))"
    )


# A success (`:healthy`) of the attempt of :item at :supplier for :product: resets a closed breaker's count;
# closes a breaker whose probe this is. Answers through `breaker_closed` how many it closed.
SUCCESS_CTES = """
    b_reset AS (
        UPDATE suppliers SET consecutive_failures = 0
        WHERE :healthy AND id = :supplier AND circuit_open_until IS NULL AND consecutive_failures <> 0
    ), b_close AS (
        UPDATE suppliers SET consecutive_failures = 0, circuit_open_until = NULL, probe_item_id = NULL
        WHERE :healthy AND id = :supplier AND probe_item_id = :item
        RETURNING id
    ), o_reset AS (
        UPDATE supplier_offers SET consecutive_failures = 0
        WHERE :healthy AND supplier_id = :supplier AND product_id = :product
          AND circuit_open_until IS NULL AND consecutive_failures <> 0
    ), o_close AS (
        UPDATE supplier_offers SET consecutive_failures = 0, circuit_open_until = NULL, probe_item_id = NULL
        WHERE :healthy AND supplier_id = :supplier AND product_id = :product AND probe_item_id = :item
        RETURNING id
    )"""
SUCCESS_COLUMNS = (
    "(SELECT count(*) FROM b_close) AS supplier_closed, (SELECT count(*) FROM o_close) AS offer_closed"
)

_KEY = {Scope.SUPPLIER: "id = :supplier", Scope.OFFER: "supplier_id = :supplier AND product_id = :product"}
_TABLE = {Scope.SUPPLIER: "suppliers", Scope.OFFER: "supplier_offers"}


def _failure_sql(scope: Scope) -> Any:
    table, key = _TABLE[scope], _KEY[scope]
    return text(
        f"""
        WITH old AS (
            SELECT ctid AS row, circuit_open_until, probe_item_id FROM {table} WHERE {key} FOR NO KEY UPDATE
        )
        UPDATE {table} t SET
            consecutive_failures = t.consecutive_failures + 1,
            circuit_open_until = CASE
                WHEN old.probe_item_id = :item THEN {LEASE_SQL}
                WHEN old.circuit_open_until IS NULL AND t.consecutive_failures + 1 >= :threshold THEN {LEASE_SQL}
                ELSE t.circuit_open_until END,
            probe_item_id = CASE WHEN old.probe_item_id = :item THEN NULL ELSE t.probe_item_id END
        FROM old
        WHERE t.ctid = old.row
        RETURNING old.circuit_open_until IS NULL AND t.circuit_open_until IS NOT NULL AS opened,
            old.probe_item_id IS NOT DISTINCT FROM :item AS probe_failed, t.consecutive_failures
        """  # noqa: S608 (constants only)
    )


_FAILURE = {scope: _failure_sql(scope) for scope in Scope}


@dataclass(frozen=True)
class Breaking:
    """What one counted failure did to its breaker."""

    opened: bool  # it opened the circuit (from closed)
    probe_failed: bool  # it was the probe's answer: open again for a cool-down
    failures: int


def record_failure(
    session: Session,
    scope: Scope,
    *,
    supplier_id: int,
    product_id: int,
    item_id: int,
    now: datetime,
    policy: BreakerPolicy,
) -> Breaking | None:
    """Count one failure against the scope's breaker, inside the caller's transaction."""
    row = (
        session.connection()
        .execute(
            _FAILURE[scope],
            {
                "supplier": supplier_id,
                "product": product_id,
                "item": item_id,
                "now": now,
                "cooldown": policy.cooldown,
                "threshold": policy.threshold,
            },
        )
        .first()
    )
    return Breaking(bool(row.opened), bool(row.probe_failed), row.consecutive_failures) if row else None


def subject(scope: Scope, supplier_code: str, product_code: str | None) -> str:
    return supplier_code if scope is Scope.SUPPLIER else f"{supplier_code} {product_code}"


def alert_opened(
    session: Session,
    scope: Scope,
    *,
    supplier_code: str,
    product_code: str | None,
    why: str,
    failures: int,
    now: datetime,
    policy: BreakerPolicy,
    public_url: str,
) -> None:
    who = subject(scope, supplier_code, product_code)
    minutes = max(1, round(policy.cooldown.total_seconds() / 60))
    raise_alert(
        session,
        condition="breaker_open",
        public_url=public_url,
        dedupe_key=f"breaker_open:{scope}:{who}:{now:%Y%m%dT%H%M%S.%f}",
        title=f"{who}: held back (breaker open)",
        body=f"{who} failed {failures} times in a row ({why}). It is held back for {minutes} min; then one "
        "probe request is let through, and its success opens it again. Orders go to other suppliers meanwhile, "
        "or wait for this one: none is failed or refunded for it.",
    )


def alert_closed(
    session: Session,
    scope: Scope,
    *,
    supplier_code: str,
    product_code: str | None,
    now: datetime,
    public_url: str,
) -> None:
    who = subject(scope, supplier_code, product_code)
    raise_alert(
        session,
        condition="breaker_closed",
        public_url=public_url,
        dedupe_key=f"breaker_closed:{scope}:{who}:{now:%Y%m%dT%H%M%S.%f}",
        title=f"{who}: back in use (breaker closed)",
        body=f"The probe request to {who} succeeded: it takes orders again, and the orders waiting for it "
        "are taken up now.",
    )


_WAITING = text(
    f"""
    SELECT i.id FROM payment_items i
    WHERE i.status = '{ItemStatus.WAITING}'
      AND (CAST(:product AS bigint) IS NULL OR i.product_id = :product)
    ORDER BY i.updated_at LIMIT :limit
    """  # noqa: S608 (constants only)
)


def wake_waiting(session: Session, product_id: int | None, limit: int = 500) -> int:
    """Queue the items waiting for a held-back supplier (of `product_id`, or all): one fulfil message each.
    Items past `limit` wake at their own time (each WAITING item has a message queued for then)."""
    ids = list(session.connection().execute(_WAITING, {"product": product_id, "limit": limit}).scalars())
    for item_id in ids:
        outbox.record(session, topics.FULFILL_ITEM, {"item_id": item_id})
    return len(ids)


# ---- why an item has no candidate now: held back (wait) or none at all (fail) ------------------------------

_HELD_BACK = text(
    """
    SELECT s.code, s.circuit_open_until AS supplier_open_until, o.circuit_open_until AS offer_open_until,
        COALESCE(s.balance_idr < o.cost_idr, false) AS deposit_low
    FROM supplier_offers o
    JOIN suppliers s ON s.id = o.supplier_id
    WHERE o.product_id = :product AND o.available AND s.enabled
      AND s.id NOT IN (SELECT a.supplier_id FROM item_attempts a WHERE a.item_id = :item)
      /* a bill from an inquiry is paid only where it was inquired (esa_domain.ordering.bills) */
      AND NOT EXISTS (SELECT 1 FROM bill_inquiries b WHERE b.payment_item_id = :item AND b.supplier_id <> s.id)
    ORDER BY s.code
    """
)


@dataclass(frozen=True)
class HeldBack:
    """The suppliers that could still serve an item but are held back now, and when to look again."""

    reasons: list[str]
    wake_at: datetime


def held_back(
    session: Session, item_id: int, product_id: int, now: datetime, policy: BreakerPolicy
) -> HeldBack | None:
    """None when no supplier could serve the item even later (it fails); else who holds it back and until when."""
    rows = session.connection().execute(_HELD_BACK, {"product": product_id, "item": item_id}).all()
    if not rows:
        return None
    reasons, wakes = [], []
    for r in rows:
        until = max(t for t in (r.supplier_open_until, r.offer_open_until, now) if t is not None)
        if r.deposit_low:
            reasons.append(f"{r.code}: deposit too low")
            until = max(until, now + policy.cooldown)
        elif until > now:
            what = "breaker open" if (r.supplier_open_until or now) > now else "out of stock (breaker open)"
            reasons.append(f"{r.code}: {what} until {until:%H:%M:%S} UTC")
        else:
            reasons.append(f"{r.code}: probe in flight")  # lost the probe to another item: look again soon
        wakes.append(until)
    return HeldBack(reasons, max(min(wakes), now + timedelta(seconds=1)))
