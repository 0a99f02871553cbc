"""The margin floor at purchase time (issue 18, "Must show"): never buy above the item's price minus the floor at
the current rate; such an item waits for an operator instead. Real PostgreSQL, the supplier simulators over HTTP;
the simulators' own ledgers say what was bought.

TSEL10 sells at 25 TWD; its offers cost (tests.supplier_world.OFFERS, rate 0.002) pulsaif 20.30, iak 20.90,
billfazz 21.10, redision 21.30 TWD.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from esa_domain.fulfillment.engine import advance_item
from esa_domain.fulfillment.margin import NotWaiting, give_up
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, FxRate, PaymentItem
from esa_domain.operations.actions import retry_fulfillment
from esa_domain.operations.operators import create_operator
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.views.stuck import stuck_payments
from sandbox.behaviours import Behaviour, target_for
from tests import factories
from tests.supplier_world import FAST, OFFERS, catalog, drain, pay, start_world

_keys = itertools.count()


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


def _order(db, behaviour: Behaviour = Behaviour.SUCCESS) -> tuple[int, int]:
    n = next(_keys)
    cust = factories.customer(db, f"U-margin-{n}")
    line = OrderLine("TSEL10", target_for(behaviour, prefix=f"0812{n:04d}"))
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, f"m{n}", (line,)))
    pay(db, placed.payment_id)
    with Session(db) as s:
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == placed.payment_id)).one()
    return placed.payment_id, item_id


def _ledger(world) -> list[tuple[str, str]]:
    """Every purchase the simulators received (delivered or not), from their own ledgers."""
    out = []
    for code, url in world.sims.items():
        for txn in httpx.get(f"{url}/_sandbox/ledger").json()["transactions"]:
            out.append((code, str(txn.get("delivered"))))
    return out


def _item(db, item_id: int) -> tuple[str, datetime | None, int, str]:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT i.status, i.next_check_at, (SELECT count(*) FROM item_attempts a WHERE a.item_id = i.id),"
                " (SELECT h.cause FROM payment_history h WHERE h.item_id = i.id ORDER BY h.id DESC LIMIT 1)"
                " FROM payment_items i WHERE i.id = :i"
            ),
            {"i": item_id},
        ).one()
    return row[0], row[1], row[2], row[3]


def _alerts(db, payment_id: int) -> list[str]:
    with Session(db) as s:
        return [
            a.body
            for a in s.exec(
                select(Alert).where(Alert.condition == "margin_floor", Alert.payment_id == payment_id)
            )
        ]


def _operator(db, name: str):
    with UnitOfWork(db) as uow:
        op = create_operator(uow.session, name, "margin-test-pw-1", role="operator")
        uow.commit()
        uow.session.refresh(op)
        uow.session.expunge(op)
    return op


def test_a_margin_below_the_floor_stops_the_purchase_and_the_item_waits_for_an_operator(db, world):
    world.reset()
    catalog(db)
    # ceiling 25 - 5 = 20 TWD: every offer is above it
    ctx = world.context(db, replace(FAST, margin_floor_twd=5))
    pay_id, item_id = _order(db)

    assert advance_item(ctx, item_id) == "WAITING"
    status, next_check, attempts, cause = _item(db, item_id)
    assert (status, next_check, attempts) == ("WAITING", None, 0)  # no wake-up of its own: an operator's call
    assert "margin floor" in cause and "pulsaif" in cause and "20.30" in cause
    assert _ledger(world) == []  # no supplier was asked to sell anything
    [body] = _alerts(db, pay_id)
    assert "25 TWD minus the floor 5 TWD" in body

    # woken again (a breaker closing wakes every WAITING item): still not bought, still one alert
    assert advance_item(ctx, item_id) == "WAITING"
    assert _ledger(world) == []
    assert len(_alerts(db, pay_id)) == 1

    # in front of an operator: the Stuck page lists the order, its item waiting
    later = datetime.now(UTC) + timedelta(hours=1)
    with Session(db) as s:
        rows = [r for r in stuck_payments(s, now=later, policy=ReconcilePolicy()) if r.payment_id == pay_id]
    assert [r.condition for r in rows] == ["paid_not_delivered"]
    assert "WAITING" in rows[0].reason

    # the operator waits for the rate to fall (19.285 TWD now fits under 20) and retries: bought once, at pulsaif
    with UnitOfWork(db) as uow:
        uow.session.add(FxRate(pair="IDR/TWD", rate=Decimal("0.0019"), source="test"))
        uow.commit()
    op = _operator(db, "margin-rina")
    with UnitOfWork(db) as uow:
        assert retry_fulfillment(uow, op, pay_id, "IDR fell: pulsaif is under the floor again") == [item_id]
    assert drain(ctx, db, item_id) == "SUCCESS"
    assert _ledger(world) == [("pulsaif", "True")]
    with db.connect() as conn:
        cost = conn.execute(
            text("SELECT cost_twd FROM item_attempts WHERE item_id = :i"), {"i": item_id}
        ).one()
    assert cost[0] <= 20


def test_after_a_definite_failure_the_next_supplier_above_the_floor_is_not_tried(db, world):
    world.reset()
    offers = {**OFFERS, "TSEL10": {**OFFERS["TSEL10"], "iak": ("htelkomsel10000", 10600)}}
    catalog(db, offers)  # pulsaif 20.30, then iak 21.20, billfazz 21.10, redision 21.30
    ctx = world.context(db, replace(FAST, margin_floor_twd=4))  # ceiling 21 TWD: pulsaif only
    pay_id, item_id = _order(db, Behaviour.PRODUCT_FAILURE)  # out of stock everywhere it is asked

    assert drain(ctx, db, item_id, timeout=5) == "WAITING"
    status, _next, attempts, cause = _item(db, item_id)
    assert (status, attempts) == ("WAITING", 1)
    assert "billfazz" in cause  # the cheapest left after pulsaif, 21.10 > 21
    assert [code for code, _ in _ledger(world)] == ["pulsaif"]  # nobody else was asked
    assert len(_alerts(db, pay_id)) == 1


def test_no_floor_configured_buys_as_before_and_no_supplier_at_all_still_fails(db, world):
    world.reset()
    catalog(db)
    ctx = world.context(db, replace(FAST, margin_floor_twd=0))  # never at a loss: 20.30 < 25, bought
    _pay, item_id = _order(db)
    assert drain(ctx, db, item_id) == "SUCCESS"
    assert _ledger(world) == [("pulsaif", "True")]

    _pay2, item2 = _order(db)
    with db.begin() as conn:  # no offer left at all: the floor is not the reason, the item fails as before
        conn.execute(text("UPDATE supplier_offers SET available = false"))
    assert advance_item(ctx, item2) == "FAILED"


def test_an_operator_gives_up_on_an_item_held_by_the_floor_and_the_order_is_refunded(db, world):
    world.reset()
    catalog(db)
    ctx = world.context(db, replace(FAST, margin_floor_twd=5))
    pay_id, item_id = _order(db)
    assert advance_item(ctx, item_id) == "WAITING"
    op = _operator(db, "margin-budi")

    with UnitOfWork(db) as uow, pytest.raises(NotWaiting, match="say why"):
        give_up(uow, op, item_id, "")
    with UnitOfWork(db) as uow:
        assert give_up(uow, op, item_id, "cost stays above the price") == "FAILED"
    with db.connect() as conn:
        item = conn.execute(
            text("SELECT status, failure_reason FROM payment_items WHERE id = :i"), {"i": item_id}
        ).one()
        payment = conn.execute(text("SELECT status FROM payments WHERE id = :p"), {"p": pay_id}).scalar_one()
        refunds = conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE topic = 'refund_payment' AND payload->>'payment_id' = :p"
            ),
            {"p": str(pay_id)},
        ).scalar_one()
        moves = conn.execute(
            text("SELECT from_status, to_status, actor FROM payment_history WHERE item_id = :i ORDER BY id"),
            {"i": item_id},
        ).all()
        audit = conn.execute(
            text("SELECT reason FROM operator_actions WHERE action = 'give_up_item' AND payment_id = :p"),
            {"p": pay_id},
        ).scalar_one()
    assert item == ("FAILED", "operator gave up: cost stays above the price")
    assert payment == "FAILED" and refunds == 1  # the order's refund follows, as for any undelivered item
    assert [(f, t) for f, t, _a in moves[-2:]] == [("WAITING", "PROCESSING"), ("PROCESSING", "FAILED")]
    assert moves[-1][2] == "operator:margin-budi" and audit == "cost stays above the price"
    assert _ledger(world) == []  # never bought

    with UnitOfWork(db) as uow, pytest.raises(NotWaiting, match="is FAILED, not WAITING"):
        give_up(uow, op, item_id, "again")
