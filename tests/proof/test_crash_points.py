"""Crash points: orders flow while the web and worker processes are SIGKILLed at chosen points.

After each crash a new worker, reconciliation ticks with a short stall policy and the outbox sweeper run, and
the invariants are checked from the database and the simulators' ledgers (see harness.assert_invariants).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dramatiq
import httpx
import pytest

from esa_domain.operations.reconciliation import reconcile
from tests.proof.conftest import PROFILE
from tests.proof.crash_app import AFTER_PAID_COMMIT
from tests.proof.harness import (
    HEAL_POLICY,
    MIX,
    B,
    Order,
    WebProcess,
    assert_invariants,
    attempts_in,
    backdate,
    delivered_per_item,
    heal,
    notify,
    open_paid_trade,
    place,
    scalar,
)
from tests.supplier_world import catalog
from tests.worker_process import WorkerProcess, wait_until
from workers.publisher import make_broker


def _mixed_orders(db, n: int) -> list[Order]:
    """`n` orders cycling through every behaviour; every third one has a second, plain item."""
    out = []
    for i in range(n):
        behaviours = [MIX[i % len(MIX)]] + ([B.SUCCESS] if i % 3 == 2 else [])
        out.append(place(db, behaviours))
    return out


def _pay_in_background(api_url: str, orders: list[Order]) -> threading.Thread:
    """ECPay notifies for every order at once, each from its own thread (a stream in flight)."""

    def one(order: Order) -> None:
        assert notify(api_url, order).text == "1|OK"

    threads = [threading.Thread(target=one, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    joiner = threading.Thread(target=lambda: [t.join() for t in threads])
    joiner.start()
    return joiner


def _kill_when(rt, worker: WorkerProcess, predicate, env, log: Path, timeout: float = 45) -> WorkerProcess:
    """Wait for `predicate` (reconciliation ticks bring lost messages back), SIGKILL the worker, restart."""
    deadline = time.monotonic() + timeout
    last_tick = time.monotonic()
    with rt.ecpay.client() as client:
        while not predicate():
            assert time.monotonic() < deadline, (
                "the crash point was never reached\n" + log.read_text()[-3000:]
            )
            if time.monotonic() - last_tick > 2:
                reconcile(rt.uow, rt.ecpay, client, policy=HEAL_POLICY)
                last_tick = time.monotonic()
            time.sleep(0.02)
    worker.kill()
    return WorkerProcess(env, log_path=log).start()


def test_web_process_killed_right_after_the_paid_commit_loses_nothing(db, world, rt, worker_env, tmp_path):
    catalog(db)
    flowing = _mixed_orders(db, PROFILE.orders)
    victims = [place(db, [MIX[i % len(MIX)], B.SUCCESS]) for i in range(PROFILE.kills)]
    worker = WorkerProcess(worker_env, log_path=tmp_path / "worker.log").start()
    joiner = _pay_in_background(world.api_url, flowing)
    for victim in victims:
        web = WebProcess(worker_env, AFTER_PAID_COMMIT, tmp_path / "web.log").start()
        with pytest.raises(httpx.TransportError):  # ECPay sees the connection drop: it will re-send
            notify(web.url, victim)
        assert web.died(), "the web process should have SIGKILLed itself after the PAID commit"
        # exactly the state a crash between commit and dispatch leaves: PAID, fulfillment rows not sent
        assert scalar(db, "SELECT status FROM payments WHERE id = :p", p=victim.payment_id) == "PAID"
        assert scalar(
            db, "SELECT count(*) FROM outbox WHERE topic = 'fulfill_item' AND dispatched_at IS NULL "
            "AND (payload->>'item_id')::int = ANY(:ids)", ids=victim.item_ids,
        ) == len(victim.item_ids)  # fmt: skip
    worker.kill()  # the worker dies too, mid-stream
    joiner.join(timeout=60)
    # ECPay re-sends the first victim's notification to a restarted web process: a duplicate, nothing more
    web = WebProcess(worker_env, None, tmp_path / "web.log").start()
    try:
        assert notify(web.url, victims[0]).text == "1|OK"
    finally:
        web.stop()
    heal(db, rt, worker_env, tmp_path / "worker2.log", flowing + victims)
    assert_invariants(db, world, flowing + victims)


def test_worker_killed_during_a_supplier_call_buys_once(db, world, rt, worker_env, tmp_path):
    catalog(db)
    slow = [place(db, [B.SLOW]) for _ in range(PROFILE.kills)]
    orders = _mixed_orders(db, PROFILE.orders) + slow
    log = tmp_path / "worker.log"
    worker = WorkerProcess(worker_env, log_path=log).start()
    joiner = _pay_in_background(world.api_url, orders)
    killed: list[tuple[int, str]] = []
    for _ in range(PROFILE.kills):
        spared = [o.item_ids[0] for o in slow if o.item_ids[0] not in {i for i, _ in killed}]

        def in_the_call(spared=spared) -> bool:
            # during the call: the attempt is committed and the supplier holds the request (it is in its
            # ledger); SLOW delivers at once and answers 1.5 s later. Its callback may record the success
            # meanwhile, so the attempt's state is not the test: the worker is still waiting for its answer.
            held = {t["reference"] for t in world.delivered()}
            hits = [hit for hit in attempts_in(db, None, spared) if hit[1] in held]
            killed.extend(hits[:1])
            return bool(hits)

        worker = _kill_when(rt, worker, in_the_call, worker_env, log)
        item_id, reference = killed[-1]
        # it died inside the call: its purchase answer was never recorded (a callback may have settled the item)
        assert scalar(
            db, "SELECT count(*) FROM supplier_exchanges x JOIN item_attempts a ON a.id = x.attempt_id "
            "WHERE a.reference = :r AND x.operation = 'purchase'", r=reference,
        ) == 0  # fmt: skip
        assert scalar(db, "SELECT status FROM payment_items WHERE id = :i", i=item_id) in (
            "PROCESSING",
            "SUCCESS",
        )
    joiner.join(timeout=60)
    worker.kill()
    heal(db, rt, worker_env, tmp_path / "worker2.log", orders)
    assert_invariants(db, world, orders)
    for item_id, reference in killed:  # healed by a status check under the same reference, not a new purchase
        assert scalar(db, "SELECT count(*) FROM item_attempts WHERE item_id = :i", i=item_id) == 1
        assert [t["reference"] for t in delivered_per_item(world)[item_id]] == [reference]


def test_worker_killed_after_the_supplier_delivered_but_before_its_commit_buys_once(
    db, world, rt, worker_env, tmp_path
):
    catalog(db)
    trap = [place(db, [B.TIMEOUT_BUT_SUCCEEDS]) for _ in range(PROFILE.kills)]
    orders = _mixed_orders(db, PROFILE.orders) + trap
    log = tmp_path / "worker.log"
    worker = WorkerProcess(worker_env, log_path=log).start()
    joiner = _pay_in_background(world.api_url, orders)
    killed: list[int] = []
    for _ in range(PROFILE.kills):
        spared = [o.item_ids[0] for o in trap if o.item_ids[0] not in killed]

        def delivered_not_recorded(spared=spared) -> bool:
            delivered = delivered_per_item(world)
            hits = [i for i, _ in attempts_in(db, "SENDING", spared) if delivered.get(i)]
            killed.extend(hits[:1])
            return bool(hits)

        worker = _kill_when(rt, worker, delivered_not_recorded, worker_env, log)
        assert scalar(db, "SELECT state FROM item_attempts WHERE item_id = :i", i=killed[-1]) == "SENDING"
    joiner.join(timeout=60)
    worker.kill()
    heal(db, rt, worker_env, tmp_path / "worker2.log", orders)
    assert_invariants(db, world, orders)
    for item_id in killed:
        assert scalar(db, "SELECT count(*) FROM item_attempts WHERE item_id = :i", i=item_id) == 1
        assert len(delivered_per_item(world)[item_id]) == 1


def test_worker_killed_during_reconciliation_heals_every_payment_once(db, world, rt, worker_env, tmp_path):
    catalog(db)
    orders = _mixed_orders(db, PROFILE.reconcile_payments)
    for order in orders:  # paid at ECPay; every notification lost
        open_paid_trade(world, order)
    backdate(db, [o.payment_id for o in orders])
    broker = make_broker(worker_env["REDIS_URL"])
    log = tmp_path / "worker.log"
    worker = WorkerProcess(worker_env, log_path=log).start()
    ids = [o.payment_id for o in orders]
    mid_run = 0
    for _ in range(PROFILE.kills):
        before = scalar(
            db, "SELECT count(*) FROM payments WHERE id = ANY(:ids) AND status <> 'PENDING'", ids=ids
        )
        if before == len(ids):
            break
        broker.enqueue(dramatiq.Message(queue_name="reconciliation", actor_name="reconcile_payments",
                                        args=(), kwargs={}, options={}))  # fmt: skip
        assert wait_until(
            lambda before=before: scalar(
                db, "SELECT count(*) FROM payments WHERE id = ANY(:ids) AND status <> 'PENDING'", ids=ids
            ) > before,
            timeout=40, interval=0.01,
        ), log.read_text()[-3000:]  # fmt: skip
        worker.kill()
        mid_run += (
            scalar(db, "SELECT count(*) FROM job_runs WHERE kind = 'reconcile' AND status = 'running'") > 0
        )
        worker = WorkerProcess(worker_env, log_path=log).start()
    assert mid_run >= 1, "no kill landed inside a reconciliation run"
    worker.kill()
    heal(db, rt, worker_env, tmp_path / "worker2.log", orders)
    assert_invariants(db, world, orders)
