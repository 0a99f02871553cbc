"""Races: duplicate notifications and queries, reconciliation against a late notification, two workers on one
item (threads and processes), and a supplier callback against a status check. Outcomes from the database and
the simulators' ledgers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from esa_domain.fulfillment.engine import advance_item, check_attempt
from esa_domain.infra.runtime import Runtime
from esa_domain.payments.accept import check_payment
from tests.proof.conftest import PROFILE
from tests.proof.harness import (
    B,
    assert_invariants,
    delivered_per_item,
    notify,
    open_paid_trade,
    place,
    scalar,
)
from tests.supplier_world import SECRET, catalog, drain, pay
from tests.worker_process import WorkerProcess, wait_until


def _together(*jobs) -> list:
    """Run every job at the same instant, each on its own thread; their results in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


@pytest.mark.parametrize(
    ("notices", "queries"), [(1, 1), (16, 1)], ids=["late-notice-vs-query", "mixed-storm"]
)
def test_notifications_racing_queries_accept_the_payment_once(db, world, quiet_rt, notices, queries):
    catalog(db)
    rt = Runtime(world.settings, db, None)
    for _ in range(PROFILE.rounds):
        order = place(db, [B.SUCCESS, B.SUCCESS])
        open_paid_trade(world, order)  # ECPay knows it paid: the query path can accept it too

        def query(order=order) -> str:
            with rt.ecpay.client() as client:
                return str(check_payment(rt.uow, order.payment_id, rt.ecpay, client))

        def notice(order=order) -> str:
            return notify(world.api_url, order).text

        answers = _together(*[notice] * notices, *[query] * queries)
        assert answers[:notices] == ["1|OK"] * notices
        assert set(answers[notices:]) <= {"accepted", "unchanged", "duplicate"}
        assert scalar(
            db, "SELECT count(*) FROM payment_history WHERE payment_id = :p AND item_id IS NULL "
            "AND to_status = 'PAID'", p=order.payment_id,
        ) == 1  # fmt: skip
        assert scalar(
            db, "SELECT count(*) FROM outbox WHERE topic = 'fulfill_item' "
            "AND (payload->>'item_id')::int = ANY(:ids)", ids=order.item_ids,
        ) == len(order.item_ids)  # one set of fulfill_item rows  # fmt: skip


@pytest.mark.parametrize("behaviour", [B.SUCCESS, B.SLOW, B.TIMEOUT_BUT_SUCCEEDS, B.PENDING_THEN_SUCCESS])
def test_two_threads_advancing_one_item_buy_once(db, world, quiet_rt, behaviour):
    catalog(db)
    ctx = world.context(db)
    orders = []
    for _ in range(PROFILE.rounds):
        order = place(db, [behaviour])
        pay(db, order.payment_id)
        item_id = order.item_ids[0]
        _together(*[lambda i=item_id: advance_item(ctx, i)] * 2)
        assert drain(ctx, db, item_id) == "SUCCESS"
        assert scalar(db, "SELECT count(*) FROM item_attempts WHERE item_id = :i", i=item_id) == 1
        orders.append(order)
    assert_invariants(db, world, orders)


def test_two_worker_processes_on_one_item_buy_once(db, world, rt, worker_env, tmp_path):
    catalog(db)
    orders = [place(db, [b]) for b in (B.SLOW, B.PENDING_THEN_SUCCESS, B.SUCCESS)]
    with (
        WorkerProcess(worker_env, log_path=tmp_path / "w1.log"),
        WorkerProcess(worker_env, log_path=tmp_path / "w2.log"),
    ):
        for order in orders:
            assert notify(world.api_url, order).text == "1|OK"
            for n in range(3):  # the same fulfill_item message, again and again, for both workers to grab
                rt.publisher.publish(  # type: ignore[union-attr]
                    "fulfill_item", {"item_id": order.item_ids[0]}, message_id=f"dup-{n}", delay_ms=None
                )
        ids = [o.payment_id for o in orders]
        assert wait_until(
            lambda: (
                scalar(
                    db, "SELECT count(*) FROM payments WHERE id = ANY(:ids) AND status = 'SUCCESS'", ids=ids
                )
                == len(ids)
            ),
            timeout=60,
        ), (tmp_path / "w1.log").read_text()[-2000:]
    for order in orders:
        assert scalar(db, "SELECT count(*) FROM item_attempts WHERE item_id = :i", i=order.item_ids[0]) == 1
    assert_invariants(db, world, orders)


def _report(world, reference: str, status: str) -> httpx.Response:
    """Pulsa IF's report callback (authenticated by our secret path segment)."""
    message = (
        f"R#{reference} SUKSES. SN: 1234567890123456. Harga 10.150"
        if status == "20"
        else f"R#{reference} GAGAL"
    )
    return httpx.get(
        f"{world.api_url}/callbacks/pulsaif/{SECRET}",
        params={"refid": reference, "status": status, "price": "10150", "message": message},
    )


def test_supplier_callback_racing_a_status_check_settles_once_and_never_backwards(db, world, quiet_rt):
    catalog(db)  # Pulsa IF is the cheapest for TSEL10
    ctx = world.context(db)
    orders = []
    for _ in range(PROFILE.rounds):
        order = place(db, [B.NO_CALLBACK])  # pending at the supplier; it settles without calling back
        pay(db, order.payment_id)
        item_id = order.item_ids[0]
        assert advance_item(ctx, item_id) == "SUPPLIER_PENDING"
        assert wait_until(lambda i=item_id: bool(delivered_per_item(world).get(i)), timeout=10)
        attempt_id, reference = (
            scalar(db, "SELECT id FROM item_attempts WHERE item_id = :i", i=item_id),
            scalar(db, "SELECT reference FROM item_attempts WHERE item_id = :i", i=item_id),
        )
        results = _together(
            lambda r=reference: _report(world, r, "20").status_code,
            lambda a=attempt_id: check_attempt(ctx, a),
        )
        assert results[0] == 200
        assert drain(ctx, db, item_id) == "SUCCESS"
        assert _report(world, reference, "40").status_code < 500  # a stale failure after the success
        assert scalar(db, "SELECT status FROM payment_items WHERE id = :i", i=item_id) == "SUCCESS"
        assert scalar(db, "SELECT state FROM item_attempts WHERE id = :a", a=attempt_id) == "SUCCESS"
        assert scalar(
            db, "SELECT count(*) FROM payment_history WHERE item_id = :i AND to_status = 'SUCCESS'", i=item_id
        ) == 1  # fmt: skip
        orders.append(order)
    assert_invariants(db, world, orders)


# Found by this test: the FK check of the gateway_events insert takes FOR KEY SHARE on the payment, which a
# FOR UPDATE waits for, so two queries deadlocked. Our row locks are FOR NO KEY UPDATE now (transitions.py).
def test_two_queries_for_one_payment_do_not_deadlock(db, world, quiet_rt):
    catalog(db)
    rt = Runtime(world.settings, db, None)
    order = place(db, [B.SUCCESS])
    open_paid_trade(world, order)
    errors: list[BaseException] = []

    def query() -> None:
        try:
            with rt.ecpay.client() as client:
                check_payment(rt.uow, order.payment_id, rt.ecpay, client)
        except Exception as exc:  # the bug: a deadlock escapes
            errors.append(exc)

    # the other query's transaction, step by step as check_payment does it: its event row, then the lock
    with db.connect() as other:
        tx = other.begin()
        other.execute(
            text("INSERT INTO gateway_events (kind, merchant_trade_no, payment_id, fields, verified, outcome, received_at) "
                 "VALUES ('query', :m, :p, '{}', true, 'received', now())"),
            {"m": order.merchant_trade_no, "p": order.payment_id},
        )  # fmt: skip
        thread = threading.Thread(target=query)
        thread.start()
        # the query either waits on our lock or (FOR NO KEY UPDATE vs KEY SHARE) does not need to wait at all
        assert wait_until(
            lambda: (
                not thread.is_alive() or scalar(db, "SELECT count(*) FROM pg_locks WHERE NOT granted") > 0
            ),
            timeout=10,
        )
        other.execute(text("SELECT 1 FROM payments WHERE id = :p FOR UPDATE"), {"p": order.payment_id})
        tx.rollback()
        thread.join(timeout=30)
    assert errors == []
    assert scalar(db, "SELECT status FROM payments WHERE id = :p", p=order.payment_id) == "PAID"
