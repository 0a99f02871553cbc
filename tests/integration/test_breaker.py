"""The breaker, proven (issue 21, item 6), on real PostgreSQL against the supplier simulators over HTTP.

The engine's clock is the test's (`FulfillmentContext.clock`), so the cool-down passes when the test says, not
after a sleep. The threshold is 2 here: the breakers really trip.

- failures that say something about the supplier open its breaker (configuration: per supplier; out of stock:
  per supplier AND product); a failure tied to one destination (a customer failure) never counts;
- open: routing skips it; an item whose only remaining suppliers are held back WAITS (never FAILED), with an
  alert; after the cool-down ONE probe goes through; its success closes the breaker, its failure re-opens it; a
  late answer to an older request closes nothing;
- an alert when a breaker opens and when it closes;
- a supplier whose deposit cannot cover the cost is skipped without counting against its breaker.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from esa_domain.adapters.suppliers.base import FailureClass, Outcome, SupplierOutcome
from esa_domain.fulfillment.breaker import BreakerPolicy, Scope, counted_scope
from esa_domain.fulfillment.engine import FulfillmentContext, advance_item, check_attempt
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, ItemAttempt, Payment, PaymentItem, Supplier, SupplierOffer
from esa_domain.operations.actions import retry_fulfillment
from esa_domain.operations.deposits import record_balance
from esa_domain.operations.operators import create_operator
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from sandbox.behaviours import Behaviour, target_for
from tests import factories
from tests.supplier_world import FAST, catalog, drain, pay, start_world

B = Behaviour
COOLDOWN = timedelta(minutes=5)
POLICY = replace(FAST, breaker=BreakerPolicy(threshold=2, cooldown=COOLDOWN, wait_alert_after=timedelta(0)))
TSEL10 = ["pulsaif", "iak", "billfazz", "redision"]  # cheapest first (tests.supplier_world.OFFERS)
_keys = itertools.count()


# ---- which failures count: pure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "operation", "scope"),
    [
        (SupplierOutcome(Outcome.FAILED, FailureClass.CUSTOMER), "purchase", None),
        (SupplierOutcome(Outcome.FAILED, FailureClass.CUSTOMER), "callback", None),
        (SupplierOutcome(Outcome.FAILED, FailureClass.PRODUCT), "purchase", Scope.OFFER),
        (SupplierOutcome(Outcome.FAILED, FailureClass.PRODUCT), "status", Scope.OFFER),
        (SupplierOutcome(Outcome.FAILED, FailureClass.CONFIG), "purchase", Scope.SUPPLIER),
        (SupplierOutcome(Outcome.UNKNOWN), "purchase", Scope.SUPPLIER),  # a timeout, a 5xx
        (SupplierOutcome(Outcome.UNKNOWN), "status", None),  # a status check that failed says little
        (SupplierOutcome(Outcome.PENDING), "purchase", None),
        (SupplierOutcome(Outcome.SUCCESS), "purchase", None),
    ],
)
def test_only_failures_that_say_something_about_the_supplier_count(outcome, operation, scope):
    assert counted_scope(outcome, operation) is scope


# ---- the breaker against the simulators ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(minutes=1)  # after every payment the test makes

    def __call__(self) -> datetime:
        return self.now

    def pass_cooldown(self) -> None:
        self.now += COOLDOWN + timedelta(seconds=1)


@pytest.fixture
def setup(db, world) -> tuple[FulfillmentContext, Clock]:
    world.reset()
    catalog(db)
    ctx = world.context(db, POLICY)
    clock = Clock()
    ctx.clock = clock
    return ctx, clock


def _order(db, behaviour: Behaviour, product: str = "TSEL10") -> tuple[int, int]:
    n = next(_keys)
    cust = factories.customer(db, f"U-breaker-{n}")
    line = OrderLine(
        product, target_for(behaviour, prefix=f"0812{n:04d}"), zone="1" if product == "ML86" else None
    )
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, f"k{n}", (line,)))
    pay(db, placed.payment_id)
    with Session(db) as s:
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == placed.payment_id)).one()
    return placed.payment_id, item_id


def _suppliers(db) -> dict[str, Supplier]:
    with Session(db) as s:
        return {x.code: x for x in s.exec(select(Supplier))}


def _offers(db, product: str = "TSEL10") -> dict[str, SupplierOffer]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.code, o.consecutive_failures, o.circuit_open_until, o.probe_item_id "
                "FROM supplier_offers o JOIN suppliers s ON s.id = o.supplier_id "
                "JOIN products p ON p.id = o.product_id WHERE p.code = :p"
            ),
            {"p": product},
        ).all()
    return {r.code: r for r in rows}


def _alerts(db, condition: str) -> list[str]:
    with Session(db) as s:
        return [
            a.title for a in s.exec(select(Alert).where(Alert.condition == condition).order_by(col(Alert.id)))
        ]


def _item(db, item_id: int) -> tuple[str, list[tuple[str, str]]]:
    with Session(db) as s:
        item = s.get(PaymentItem, item_id)
        attempts = s.exec(
            select(Supplier.code, ItemAttempt.state)
            .join(Supplier, col(Supplier.id) == col(ItemAttempt.supplier_id))
            .where(ItemAttempt.item_id == item_id)
            .order_by(col(ItemAttempt.id))
        ).all()
    return item.status, [(c, st) for c, st in attempts]  # type: ignore[union-attr]


def _payment(db, payment_id: int) -> str:
    with Session(db) as s:
        return s.get(Payment, payment_id).status  # type: ignore[union-attr]


def test_config_failures_open_each_supplier_then_one_probe_closes_it_and_waiting_items_are_bought(
    db, world, setup
):
    ctx, clock = setup
    # an older request still pending at Pulsa IF before anything goes wrong (it succeeds, but answers late)
    _, old_item = _order(db, B.NO_CALLBACK)
    assert advance_item(ctx, old_item) == "SUPPLIER_PENDING"

    # wrong numbers: one destination's problem, never the supplier's
    for _ in range(3):
        _, bad = _order(db, B.CUSTOMER_FAILURE)
        assert advance_item(ctx, bad) == "FAILED"
    assert {c: s.consecutive_failures for c, s in _suppliers(db).items()}["pulsaif"] == 0
    assert _alerts(db, "breaker_open") == []

    # two configuration failures in a row at each supplier: every TSEL10 supplier's breaker opens
    for _ in range(2):
        _, cfg = _order(db, B.CONFIG_FAILURE)
        assert advance_item(ctx, cfg) == "FAILED"
        assert _item(db, cfg) == ("FAILED", [(c, "FAILED") for c in TSEL10])
    sups = _suppliers(db)
    assert all(sups[c].circuit_open_until == clock.now + COOLDOWN for c in TSEL10), sups
    assert sups["lapakgaming"].circuit_open_until is None
    assert sorted(_alerts(db, "breaker_open")) == sorted(f"{c}: held back (breaker open)" for c in TSEL10)

    # the late answer to the old request (a status check: SUCCESS) closes nothing
    assert _checked_until_final(ctx, _old_attempt(db, old_item)) == "SUCCESS"
    assert _suppliers(db)["pulsaif"].circuit_open_until is not None
    assert _alerts(db, "breaker_closed") == []

    # a plain order while every supplier of it is held back: it waits, paid, never failed nor refunded
    pay_a, item_a = _order(db, B.SUCCESS)
    pay_b, item_b = _order(db, B.SUCCESS)
    assert advance_item(ctx, item_a) == "WAITING"
    assert advance_item(ctx, item_b) == "WAITING"
    assert _item(db, item_a) == ("WAITING", [])
    assert _payment(db, pay_a) == "PAID"
    assert _wake_at(db, item_a) == clock.now + COOLDOWN  # a worker takes it up when the cool-down ends
    assert len(_alerts(db, "supplier_wait")) == 2  # wait_alert_after is 0 here
    assert advance_item(ctx, item_a) == "WAITING"  # woken early: still held back, still waiting

    # after the cool-down: ONE probe; item A takes Pulsa IF's (the cheapest) and its success closes it
    clock.pass_cooldown()
    assert advance_item(ctx, item_a) == "SUCCESS"
    assert _item(db, item_a) == ("SUCCESS", [("pulsaif", "SUCCESS")])
    sups = _suppliers(db)
    assert sups["pulsaif"].circuit_open_until is None and sups["pulsaif"].probe_item_id is None
    assert sups["pulsaif"].consecutive_failures == 0
    assert sups["iak"].circuit_open_until is not None  # the others wait for their own probes
    assert _alerts(db, "breaker_closed") == ["pulsaif: back in use (breaker closed)"]
    assert _woken(db, item_b), "closing the breaker takes up the items waiting"
    assert advance_item(ctx, item_b) == "SUCCESS"
    assert _item(db, item_b) == ("SUCCESS", [("pulsaif", "SUCCESS")])
    assert _payment(db, pay_a) == _payment(db, pay_b) == "SUCCESS"


def test_only_one_probe_goes_through_and_a_failed_probe_opens_the_breaker_again(db, world, setup):
    ctx, clock = setup
    for _ in range(2):
        _, cfg = _order(db, B.CONFIG_FAILURE)
        assert advance_item(ctx, cfg) == "FAILED"
    clock.pass_cooldown()

    # the probe of Pulsa IF is an order still pending there: the probe is in flight
    _, probe = _order(db, B.NO_CALLBACK)
    assert advance_item(ctx, probe) == "SUPPLIER_PENDING"
    sups = _suppliers(db)
    assert sups["pulsaif"].probe_item_id == probe
    assert sups["pulsaif"].circuit_open_until == clock.now + COOLDOWN  # no second request meanwhile

    # a second order: Pulsa IF's one probe is taken, so it probes the next supplier (IAK), not Pulsa IF
    _, second = _order(db, B.SUCCESS)
    advance_item(ctx, second)  # IAK answers pending, then calls back with its signed success
    assert _settled(db, second) == "SUCCESS", _story(db, second)
    assert _item(db, second) == ("SUCCESS", [("iak", "SUCCESS")])
    assert _suppliers(db)["iak"].circuit_open_until is None

    # BillFazz's probe is a configuration failure again: open again for a cool-down, nobody else let through
    with db.begin() as conn:  # make BillFazz the cheapest left so the next order probes it
        conn.execute(
            text(
                "UPDATE supplier_offers SET cost_idr = 10000 WHERE supplier_id = "
                "(SELECT id FROM suppliers WHERE code = 'billfazz')"
            )
        )
    _, failing = _order(db, B.CONFIG_FAILURE)
    advance_item(ctx, failing)
    _, attempts = _item(db, failing)
    assert attempts[0] == ("billfazz", "FAILED")
    bf = _suppliers(db)["billfazz"]
    assert bf.circuit_open_until == clock.now + COOLDOWN and bf.probe_item_id is None
    assert _alerts(db, "breaker_closed") == ["iak: back in use (breaker closed)"]

    # the probe in flight at Pulsa IF answers success: that closes Pulsa IF
    assert _checked_until_final(ctx, _old_attempt(db, probe)) == "SUCCESS"
    assert _suppliers(db)["pulsaif"].circuit_open_until is None
    assert _alerts(db, "breaker_closed")[-1] == "pulsaif: back in use (breaker closed)"


def test_concurrent_items_after_the_cool_down_send_exactly_one_probe_per_supplier(db, world, setup):
    ctx, clock = setup
    for _ in range(2):
        _, cfg = _order(db, B.CONFIG_FAILURE)
        assert advance_item(ctx, cfg) == "FAILED"
    # eight paid items waiting for the four held-back suppliers; their purchases will answer "pending", so
    # no probe's success closes a breaker while the others race
    items = [_order(db, B.NO_CALLBACK)[1] for _ in range(8)]
    for item in items:
        assert advance_item(ctx, item) == "WAITING"
    clock.pass_cooldown()
    start = threading.Barrier(len(items))

    def wake(item_id: int) -> str:
        start.wait()
        return advance_item(ctx, item_id)

    with ThreadPoolExecutor(len(items)) as pool:
        outcomes = list(pool.map(wake, items))

    assert sorted(outcomes) == ["SUPPLIER_PENDING"] * 4 + ["WAITING"] * 4, outcomes
    with db.connect() as conn:
        per_supplier = dict(
            conn.execute(
                text(
                    "SELECT s.code, count(*) FROM item_attempts a JOIN suppliers s ON s.id = a.supplier_id "
                    "WHERE a.item_id = ANY(:items) GROUP BY s.code"
                ),
                {"items": items},
            ).all()
        )
    assert per_supplier == dict.fromkeys(TSEL10, 1), "one probe per held-back supplier, never two"
    probes = {c: s.probe_item_id for c, s in _suppliers(db).items() if c in TSEL10}
    assert sorted(probes.values()) == sorted(
        i for i, o in zip(items, outcomes, strict=True) if o != "WAITING"
    )


def test_out_of_stock_counts_per_supplier_and_product_not_against_the_supplier(db, world, setup):
    ctx, clock = setup
    # two out-of-stock destinations: every TSEL10 offer was out of stock twice
    for _ in range(2):
        pay_id, oos = _order(db, B.PRODUCT_FAILURE)
        assert advance_item(ctx, oos) == "FAILED"
        assert _payment(db, pay_id) == "FAILED"  # what its behaviour implies: nobody had it
    offers = _offers(db)
    assert all(offers[c].circuit_open_until == clock.now + COOLDOWN for c in TSEL10)
    assert all(s.circuit_open_until is None and s.consecutive_failures == 0 for s in _suppliers(db).values())
    assert sorted(_alerts(db, "breaker_open")) == sorted(
        f"{c} TSEL10: held back (breaker open)" for c in TSEL10
    )

    # the same suppliers still sell their other products
    _, game = _order(db, B.SUCCESS, product="ML86")
    assert drain(ctx, db, game) == "SUCCESS", _story(db, game)  # Lapak Gaming: pending, then a status check
    # while TSEL10 waits for them
    pay_id, waiting = _order(db, B.SUCCESS)
    assert advance_item(ctx, waiting) == "WAITING"

    # after the cool-down the probe of Pulsa IF's TSEL10 is another out-of-stock one: re-opened, and it walks
    # the other offers' probes (each out of stock) to its own FAILED
    clock.pass_cooldown()
    _, oos = _order(db, B.PRODUCT_FAILURE)
    assert advance_item(ctx, oos) == "FAILED"
    offers = _offers(db)
    assert all(offers[c].circuit_open_until == clock.now + COOLDOWN for c in TSEL10)
    assert all(offers[c].probe_item_id is None for c in TSEL10)
    assert advance_item(ctx, waiting) == "WAITING"  # still held back: still waiting, never failed

    clock.pass_cooldown()
    assert advance_item(ctx, waiting) == "SUCCESS"
    assert _item(db, waiting) == ("SUCCESS", [("pulsaif", "SUCCESS")])
    assert _offers(db)["pulsaif"].circuit_open_until is None
    assert _alerts(db, "breaker_closed") == ["pulsaif TSEL10: back in use (breaker closed)"]
    assert _payment(db, pay_id) == "SUCCESS"


def test_a_deposit_that_cannot_cover_the_cost_is_skipped_without_counting_and_an_item_waits_for_it(
    db, world, setup
):
    ctx, _ = setup
    sups = _suppliers(db)
    with UnitOfWork(db) as uow:  # Pulsa IF's last reading cannot pay for TSEL10 (Rp 10,150)
        record_balance(uow.session, sups["pulsaif"].id, 5_000, source="poll")
        uow.commit()
    _, item = _order(db, B.SUCCESS)
    advance_item(ctx, item)
    assert _settled(db, item) == "SUCCESS"  # IAK: pending, then its signed callback
    assert _item(db, item) == ("SUCCESS", [("iak", "SUCCESS")]), "moved on, nothing asked of Pulsa IF"
    assert _suppliers(db)["pulsaif"].consecutive_failures == 0
    assert _suppliers(db)["pulsaif"].circuit_open_until is None

    # every TSEL10 supplier short of deposit: the item waits for one, it is never failed for it
    with UnitOfWork(db) as uow:
        for code in TSEL10:
            record_balance(uow.session, sups[code].id, 1_000, source="poll")
        uow.commit()
    pay_id, waiting = _order(db, B.SUCCESS)
    assert advance_item(ctx, waiting) == "WAITING"
    assert _payment(db, pay_id) == "PAID"
    with db.connect() as conn:
        cause = conn.execute(
            text("SELECT cause FROM payment_history WHERE item_id = :i ORDER BY id DESC LIMIT 1"),
            {"i": waiting},
        ).scalar_one()
    assert "pulsaif: deposit too low" in cause
    assert all(s.consecutive_failures == 0 for s in _suppliers(db).values())

    with UnitOfWork(db) as uow:  # IAK topped up
        record_balance(uow.session, sups["iak"].id, 5_000_000, source="poll")
        uow.commit()
    with UnitOfWork(db) as uow:  # an operator need not wait for the item's own wake-up
        ops_user = create_operator(uow.session, "rina", "breaker-test-pw-1", role="operator")
        uow.commit()
        uow.session.refresh(ops_user)
        uow.session.expunge(ops_user)
    with UnitOfWork(db) as uow:
        assert retry_fulfillment(uow, ops_user, pay_id, "IAK deposit topped up") == [waiting]
    assert _woken(db, waiting)
    advance_item(ctx, waiting)
    assert _settled(db, waiting) == "SUCCESS"
    assert _item(db, waiting) == ("SUCCESS", [("iak", "SUCCESS")])


def test_the_reconciler_takes_up_a_waiting_item_whose_wake_up_was_lost(db, world, setup):
    from esa_domain.operations.policy import ReconcilePolicy
    from esa_domain.operations.reconciliation import _items

    ctx, _ = setup
    for _ in range(2):
        _, cfg = _order(db, B.CONFIG_FAILURE)
        advance_item(ctx, cfg)
    _, waiting = _order(db, B.SUCCESS)
    assert advance_item(ctx, waiting) == "WAITING"
    with db.begin() as conn:  # the wake-up message was lost
        conn.execute(text("DELETE FROM outbox WHERE topic = 'fulfill_item'"))
    from collections import Counter

    counts: Counter[str] = Counter()
    _items(ctx.uow, _wake_at(db, waiting) + timedelta(minutes=5), ReconcilePolicy(), counts)
    assert counts["checks_redispatched"] == 1
    assert _woken(db, waiting)


# ---- helpers reading the record --------------------------------------------------------------------------------


def _story(db, item_id: int) -> str:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT x.operation, x.http_status, x.outcome, x.error, x.response_json FROM supplier_exchanges x "
                "JOIN item_attempts a ON a.id = x.attempt_id WHERE a.item_id = :i ORDER BY x.id"
            ),
            {"i": item_id},
        ).all()
        history = conn.execute(
            text(
                "SELECT from_status, to_status, actor, cause FROM payment_history WHERE item_id = :i ORDER BY id"
            ),
            {"i": item_id},
        ).all()
    return "\n".join(map(str, [*rows, *history]))


def _settled(db, item_id: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        status = _item(db, item_id)[0]
        if status in ("SUCCESS", "FAILED", "NEEDS_REVIEW") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def _checked_until_final(ctx: FulfillmentContext, attempt_id: int) -> str:
    """Status checks until the supplier's answer is final (the simulator settles NO_CALLBACK after 0.3 s)."""
    deadline = time.monotonic() + 10
    status = check_attempt(ctx, attempt_id)
    while status == "SUPPLIER_PENDING" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = check_attempt(ctx, attempt_id)
    return status


def _old_attempt(db, item_id: int) -> int:
    with Session(db) as s:
        return s.exec(select(ItemAttempt.id).where(ItemAttempt.item_id == item_id)).one()


def _wake_at(db, item_id: int) -> datetime:
    with Session(db) as s:
        return s.get(PaymentItem, item_id).next_check_at  # type: ignore[union-attr,return-value]


def _woken(db, item_id: int) -> bool:
    """A fulfil_item message for the item due now (not only at its own wake-up time)."""
    with db.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE topic = 'fulfill_item' AND dispatched_at IS NULL "
                    "AND CAST(payload->>'item_id' AS bigint) = :i AND available_at IS NULL"
                ),
                {"i": item_id},
            ).scalar_one()
        )
