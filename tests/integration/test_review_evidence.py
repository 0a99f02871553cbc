"""Evidence beats review (issue 21): a supplier's definite answer about an item in NEEDS_REVIEW settles it through
the normal path, with history; an operator cannot call an item the supplier says was delivered "not delivered"
(an admin may override, with a reason, and the evidence is kept in the audit row).

Real PostgreSQL, our API and the supplier simulators on real ports. The simulators here hold a PENDING_* purchase
for an hour, so an item sits in review until a test makes the simulator settle it (`/_sandbox/force`), which
sends the supplier's own signed callback where the supplier has one.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from esa_domain.fulfillment.engine import advance_item, check_attempt
from esa_domain.fulfillment.evidence import last_words
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import ItemAttempt, OperatorAction, Payment, PaymentItem, SupplierExchange
from esa_domain.operations import operators as ops
from esa_domain.operations.actions import ActionRefused, resolve_review
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from sandbox.behaviours import Behaviour, target_for
from tests import factories
from tests.supplier_world import FAST, OFFERS, catalog, pay, start_world

# an unknown outcome goes to review at once (the deadline is the first answer)
REVIEW_AT_ONCE = replace(FAST, deadline=timedelta(0))
PASSWORD = "review-evidence-pw-1"


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine, callback_delay=3600.0)  # PENDING_* purchases stay pending until forced
    yield w
    w.servers.stop()


def _cheapest(supplier: str) -> dict:
    offers = {k: dict(v) for k, v in OFFERS.items()}
    top = max(c for _, c in offers["TSEL10"].values())
    for i, (code, (sku, _)) in enumerate(sorted(offers["TSEL10"].items())):
        if code != supplier:
            offers["TSEL10"][code] = (sku, top + 100 * (i + 1))
    return offers


def _in_review(db, world, supplier: str) -> tuple[int, int, ItemAttempt]:
    """A paid TSEL10 order whose only item is in NEEDS_REVIEW at `supplier` (its purchase answered pending)."""
    world.reset()
    catalog(db, _cheapest(supplier))
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow,
            OrderRequest(cust.id, "k1", (OrderLine("TSEL10", target_for(Behaviour.PENDING_THEN_SUCCESS)),)),
        )
    pay(db, placed.payment_id)
    with Session(db) as s:
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == placed.payment_id)).one()
    assert advance_item(world.context(db, REVIEW_AT_ONCE), item_id) == "NEEDS_REVIEW"
    with Session(db) as s:
        attempt = s.exec(select(ItemAttempt).where(ItemAttempt.item_id == item_id)).one()
    assert attempt.state == "PENDING"
    return placed.payment_id, item_id, attempt


def _history(db, item_id: int) -> list[tuple[str | None, str, str]]:
    with db.connect() as conn:
        return [
            (r[0], r[1], r[2])
            for r in conn.execute(
                text(
                    "SELECT from_status, to_status, actor FROM payment_history WHERE item_id = :i ORDER BY id"
                ),
                {"i": item_id},
            )
        ]


def _checks_queued(db, attempt_id: int) -> int:
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE topic = 'check_attempt' AND available_at IS NOT NULL "
                "AND CAST(payload->>'attempt_id' AS bigint) = :a"
            ),
            {"a": attempt_id},
        ).scalar_one()


def _wait_status(db, item_id: int, want: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        with Session(db) as s:
            status = s.get(PaymentItem, item_id).status  # type: ignore[union-attr]
        if status == want:
            return status
        time.sleep(0.1)
    return status


def _operator(db, name: str, role: str):
    with UnitOfWork(db) as uow:
        op = ops.create_operator(uow.session, name, PASSWORD, role=role)
        uow.commit()
        uow.session.refresh(op)
        uow.session.expunge(op)
        return op


def _audit(db, payment_id: int) -> list[OperatorAction]:
    with Session(db) as s:
        return list(s.exec(select(OperatorAction).where(OperatorAction.payment_id == payment_id)))


def test_a_late_signed_success_callback_settles_an_item_in_review_and_not_delivered_is_then_refused(
    db, world
):
    payment_id, item_id, attempt = _in_review(db, world, "iak")
    before = _history(db, item_id)
    assert before[-1][:2] == ("SUPPLIER_PENDING", "NEEDS_REVIEW")

    # IAK settles the purchase and sends its own signed callback to our API
    r = httpx.post(f"{world.sims['iak']}/_sandbox/force/{attempt.reference}", params={"status": "success"})
    assert r.status_code == 200, r.text

    assert _wait_status(db, item_id, "SUCCESS") == "SUCCESS", _history(db, item_id)
    after = _history(db, item_id)[len(before) :]
    assert after == [
        ("NEEDS_REVIEW", "PROCESSING", "supplier:iak"),
        ("PROCESSING", "SUCCESS", "supplier:iak"),
    ], "settled through the normal path, every step in the history"
    with Session(db) as s:
        assert s.get(Payment, payment_id).status == "SUCCESS"  # type: ignore[union-attr]
        assert s.get(ItemAttempt, attempt.id).state == "SUCCESS"  # type: ignore[union-attr]
        word = last_words(s, [item_id])[item_id]
    assert word.delivered and word.words.startswith("iak says DELIVERED (signed callback")
    ledger = [t for t in world.delivered() if t["reference"] == attempt.reference]
    assert len(ledger) == 1 and ledger[0]["supplier"] == "iak"

    ops_user = _operator(db, "rina", "operator")
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="SUCCESS, not NEEDS_REVIEW"):
        resolve_review(uow, ops_user, item_id, False, "customer says nothing arrived")
    with Session(db) as s:
        assert s.get(PaymentItem, item_id).status == "SUCCESS"  # type: ignore[union-attr]
        assert s.get(Payment, payment_id).status == "SUCCESS"  # type: ignore[union-attr]
    assert _audit(db, payment_id) == []


def test_a_status_check_during_review_keeps_a_maybe_on_record_and_settles_on_a_definite_answer(db, world):
    # BillFazz has no callback in this world: only a status check can bring its answer
    payment_id, item_id, attempt = _in_review(db, world, "billfazz")
    ctx = world.context(db, REVIEW_AT_ONCE)
    before = _history(db, item_id)

    assert _checks_queued(db, attempt.id) == 1  # going to review left a status check for later
    # still pending at BillFazz: a maybe changes nothing, and the supplier is asked again later
    assert check_attempt(ctx, attempt.id) == "NEEDS_REVIEW"
    assert _history(db, item_id) == before
    assert _checks_queued(db, attempt.id) == 2
    with Session(db) as s:
        word = last_words(s, [item_id])[item_id]
    assert word.operation == "status" and word.outcome == "PENDING" and not word.delivered

    r = httpx.post(
        f"{world.sims['billfazz']}/_sandbox/force/{attempt.reference}", params={"status": "success"}
    )
    assert r.status_code == 200, r.text
    assert check_attempt(ctx, attempt.id) == "SUCCESS"
    assert _history(db, item_id)[len(before) :] == [
        ("NEEDS_REVIEW", "PROCESSING", "system:fulfillment"),
        ("PROCESSING", "SUCCESS", "supplier:billfazz"),
    ]
    with Session(db) as s:
        assert s.get(Payment, payment_id).status == "SUCCESS"  # type: ignore[union-attr]


def test_a_late_failure_callback_for_an_item_in_review_fails_it_through_the_normal_path(db, world):
    payment_id, item_id, attempt = _in_review(db, world, "iak")
    before = _history(db, item_id)
    # IAK's forced failure ends with rc 206 CUSTOMER NUMBER BLOCKED (sandbox/iak.py): definite, the customer's
    r = httpx.post(f"{world.sims['iak']}/_sandbox/force/{attempt.reference}", params={"status": "failed"})
    assert r.status_code == 200, r.text

    assert _wait_status(db, item_id, "FAILED") == "FAILED"
    assert _history(db, item_id)[len(before) :] == [
        ("NEEDS_REVIEW", "PROCESSING", "supplier:iak"),
        ("PROCESSING", "FAILED", "supplier:iak"),
    ]
    with Session(db) as s:
        assert s.get(Payment, payment_id).status == "FAILED"  # type: ignore[union-attr]
        attempts = list(s.exec(select(ItemAttempt).where(ItemAttempt.item_id == item_id)))
        word = last_words(s, [item_id])[item_id]
    assert [(a.state, a.failure_class) for a in attempts] == [("FAILED", "customer")]
    assert word.words.startswith("iak says NOT delivered: the supplier refused the destination")
    assert [t for t in world.delivered() if t["reference"].startswith(f"ESA{item_id}S")] == []


def test_not_delivered_is_refused_while_the_supplier_says_delivered_and_only_an_admin_may_override(db, world):
    payment_id, item_id, attempt = _in_review(db, world, "iak")
    # IAK's signed SUCCESS callback as an older release recorded it without being able to apply it (the
    # issue's order): the word is on record, the item still in review
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO supplier_exchanges (supplier_id, attempt_id, operation, method, url, request_json, "
                "response_json, http_status, latency_ms, outcome) VALUES (:s, :a, 'callback', 'POST', "
                "'/callbacks/iak', '{}', '{\"verdict\": \"apply\", \"outcome\": \"SUCCESS\"}', 200, 0, 'SUCCESS')"
            ),
            {"s": attempt.supplier_id, "a": attempt.id},
        )
    rina = _operator(db, "rina", "operator")
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused) as refused:
        resolve_review(uow, rina, item_id, False, "customer says nothing arrived")
    assert "iak says DELIVERED (signed callback" in str(refused.value)
    assert attempt.reference in str(refused.value)
    with UnitOfWork(db) as uow, pytest.raises(PermissionError, match="admin"):
        resolve_review(uow, rina, item_id, False, "customer says nothing arrived", override=True)
    with Session(db) as s:
        assert s.get(PaymentItem, item_id).status == "NEEDS_REVIEW"  # type: ignore[union-attr]
    assert _audit(db, payment_id) == []

    boss = _operator(db, "boss", "admin")
    with UnitOfWork(db) as uow:
        assert (
            resolve_review(
                uow, boss, item_id, False, "IAK support confirmed it reversed the top-up", override=True
            )
            == "FAILED"
        )
    [action] = _audit(db, payment_id)
    assert (
        action.action == "resolve_review" and action.reason == "IAK support confirmed it reversed the top-up"
    )
    evidence = action.detail["overrode_supplier_evidence"]  # type: ignore[index]
    assert evidence["delivered_by"].startswith(f"iak {attempt.reference} (signed callback")


def _migration_0005():
    path = Path(__file__).resolve().parents[2] / "alembic" / "versions" / "0005_review_evidence_breaker.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_migration_counts_a_success_callback_recorded_before_and_asks_again_about_review_items(db, world):
    """The issue's order as an older release left it: IAK's signed SUCCESS callback recorded (verdict apply),
    the item still in review. Migration 0005's data steps make that word count and queue a status check."""
    payment_id, item_id, attempt = _in_review(db, world, "iak")
    with db.begin() as conn:
        conn.execute(text("DELETE FROM outbox WHERE topic = 'check_attempt'"))
        conn.execute(
            text(
                "INSERT INTO supplier_exchanges (supplier_id, attempt_id, operation, method, url, request_json, "
                "response_json, http_status, latency_ms) VALUES (:s, :a, 'callback', 'POST', '/callbacks/iak', "
                "'{}', CAST(:r AS jsonb), 200, 0), (:s, :a, 'callback', 'POST', '/callbacks/iak', '{}', "
                "CAST(:forged AS jsonb), 401, 0)"
            ),
            {
                "s": attempt.supplier_id,
                "a": attempt.id,
                "r": '{"verdict": "apply", "outcome": "SUCCESS"}',
                "forged": '{"verdict": "rejected", "outcome": "SUCCESS"}',
            },
        )
    migration = _migration_0005()
    with db.begin() as conn:
        conn.execute(text(migration.BACKFILL_EVIDENCE))
        conn.execute(text(migration.RECHECK_REVIEWS))

    with Session(db) as s:
        words = [
            x.outcome
            for x in s.exec(select(SupplierExchange).where(SupplierExchange.operation == "callback"))
        ]
    assert sorted(words, key=str) == sorted(["SUCCESS", None], key=str), "a rejected callback is no evidence"
    rina = _operator(db, "rina", "operator")
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="iak says DELIVERED"):
        resolve_review(uow, rina, item_id, False, "customer says nothing arrived")
    assert _checks_queued_now(db, attempt.id) == 1
    # and that check, answered by IAK (still pending there), keeps the item in review
    assert check_attempt(world.context(db, REVIEW_AT_ONCE), attempt.id) == "NEEDS_REVIEW"
    with Session(db) as s:
        assert s.get(Payment, payment_id).status == "PAID"  # type: ignore[union-attr]


def _checks_queued_now(db, attempt_id: int) -> int:
    with db.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE topic = 'check_attempt' AND available_at IS NULL "
                "AND CAST(payload->>'attempt_id' AS bigint) = :a"
            ),
            {"a": attempt_id},
        ).scalar_one()
