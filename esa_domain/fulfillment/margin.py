"""The margin floor at purchase time (issue 18): never buy an item above its price minus the floor.

Routing (esa_domain.fulfillment.routing.ranked_offers_sql) leaves out every offer whose effective cost in TWD at
the current rate is above `payment_items.price_twd - floor`. When that leaves the item no candidate while a
supplier could otherwise deliver it, the item is not failed and not bought at a loss: it WAITS for an operator
(ITEM WAITING with no wake-up time, so neither the reconciler nor a timer takes it up by itself) and an alert says
why. The operator then lowers the cost (a supplier's fees, another supplier's offer), waits for the rate, and
presses Retry fulfillment (which takes WAITING items up again), or gives it up (`give_up`: not delivered, and the
order's refund follows as for any item that could not be delivered).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.catalog.fx import PAIR
from esa_domain.core.errors import DomainError
from esa_domain.core.states import ItemStatus
from esa_domain.core.transitions import transition_item
from esa_domain.fulfillment.routing import ranked_offers_sql
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Operator, PaymentItem
from esa_domain.operations.alerts import raise_alert
from esa_domain.operations.operators import record_action, require_role
from esa_domain.payments.settlement import finish_payment_if_done

CONDITION = "margin_floor"

# the cheapest offer that routing would take were it not for the floor (same rules, no ceiling)
_CHEAPEST = text(ranked_offers_sql(":item", ":product", "CAST(:fallback_rate AS numeric)") + " LIMIT 1")
_PRICE = text("SELECT price_twd FROM payment_items WHERE id = :item")


@dataclass(frozen=True)
class MarginHold:
    """The cheapest usable offer costs more than the item may: price minus floor."""

    supplier_code: str
    cost_twd: Decimal
    price_twd: int
    floor_twd: int

    @property
    def ceiling_twd(self) -> int:
        return self.price_twd - self.floor_twd

    def reason(self) -> str:
        return (
            f"margin floor: the cheapest supplier ({self.supplier_code}) costs {self.cost_twd:.2f} TWD at the "
            f"current rate, above the price {self.price_twd} TWD minus the floor {self.floor_twd} TWD; "
            "not bought at a loss, waiting for an operator"
        )


def over_floor(
    session: Session,
    item_id: int,
    product_id: int,
    now: object,
    *,
    fallback_rate: Decimal,
    floor_twd: int | None,
) -> MarginHold | None:
    """With no candidate under the ceiling: the offer the floor stopped, or None if the floor is not the reason
    (no floor set, or no supplier could deliver even at a loss, or the cheapest is under the ceiling)."""
    if floor_twd is None:
        return None
    conn = session.connection()
    params = {
        "item": item_id,
        "product": product_id,
        "now": now,
        "pair": PAIR,
        "fallback_rate": fallback_rate,
    }
    best = conn.execute(_CHEAPEST, params).first()
    if best is None:
        return None
    price = conn.execute(_PRICE, {"item": item_id}).scalar_one()
    if best.cost_twd <= price - floor_twd:
        return None
    return MarginHold(best.supplier_code, best.cost_twd, price, floor_twd)


def wait_for_operator(
    session: Session, item_id: int, payment_id: int, hold: MarginHold, *, actor: str, public_url: str
) -> None:
    """PROCESSING -> WAITING (history row, no wake-up) and an alert, in the caller's transaction."""
    transition_item(
        session,
        item_id,
        ItemStatus.WAITING,
        from_={ItemStatus.PROCESSING},
        cause=hold.reason()[:300],
        actor=actor,
        values={"next_check_at": None},
    )
    raise_alert(
        session,
        condition=CONDITION,
        payment_id=payment_id,
        public_url=public_url,
        title=f"Order {payment_id}: not bought below the margin floor",
        body=(
            f"Item {item_id}: the cheapest supplier ({hold.supplier_code}) costs {hold.cost_twd:.2f} TWD, more "
            f"than its price {hold.price_twd} TWD minus the floor {hold.floor_twd} TWD. It waits for you: "
            "lower the cost and press Retry fulfillment, or refund the order."
        ),
    )


class NotWaiting(DomainError):
    code = "item_not_waiting"
    http_status = 409


def give_up(uow: UnitOfWork, operator: Operator, item_id: int, reason: str) -> str:
    """An operator gives up on a WAITING item (held back by the margin floor, a breaker or a deposit): it is
    not delivered (WAITING -> PROCESSING -> FAILED, both history rows in this transaction; a WAITING item has no
    purchase in flight), and once it was the order's last open item the order settles and its refund follows.
    A worker that took the item up first wins: then nothing changes. Audited; returns the item's new status."""
    require_role(operator, "operator")
    why = " ".join(str(reason or "").split())[:200]
    if len(why) < 3:
        raise NotWaiting("say why the item is given up (a few words; it is kept in the audit log)")
    s = uow.session
    item = s.get(PaymentItem, item_id, with_for_update={"key_share": True})
    if item is None:
        raise NotWaiting(f"item {item_id} does not exist")
    actor = f"operator:{operator.username}"
    took = transition_item(
        s, item_id, ItemStatus.PROCESSING, cause=f"given up by an operator: {why}"[:300], actor=actor,
        from_={ItemStatus.WAITING},
    )  # fmt: skip
    if not took.applied:
        raise NotWaiting(
            f"item {item_id} is {took.current}, not WAITING: only a waiting item can be given up"
        )
    transition_item(
        s, item_id, ItemStatus.FAILED, cause=f"given up by an operator: {why}"[:300], actor=actor,
        from_={ItemStatus.PROCESSING}, values={"failure_reason": f"operator gave up: {why}"[:300]},
    )  # fmt: skip
    finish_payment_if_done(s, item.payment_id)  # FAILED or PARTIAL: the refund is queued
    record_action(
        s, operator.id, "give_up_item", payment_id=item.payment_id, subject=f"item:{item_id}", reason=why,
        detail={"item_id": item_id},
    )  # fmt: skip
    uow.commit()
    return str(ItemStatus.FAILED)
