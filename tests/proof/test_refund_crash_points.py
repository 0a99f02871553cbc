"""Crash points on the refund path: the refund worker and the reconciler are SIGKILLed mid-refund, and every
payment is still refunded exactly once, counted from the ECPay simulator's own ledger (/_sandbox/refunds: every
DoAction it carried out), never from our record alone.

1. The worker killed after DoAction R left (ECPay made the refund; its answer, delayed, was never recorded).
2. The reconciler killed mid-refund-recovery (while resuming SENT refunds: asking ECPay, or re-sending one ECPay
   never got).
After each crash a new worker, reconciliation ticks with a short resume grace and the outbox sweeper heal.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import dramatiq
import httpx
import pytest

from esa_domain.infra import outbox
from esa_domain.operations.reconciliation import reconcile
from tests.proof.conftest import PROFILE
from tests.proof.harness import (
    HEAL_POLICY,
    B,
    Order,
    assert_invariants,
    notice,
    open_paid_trade,
    place,
    scalar,
)
from tests.supplier_world import catalog
from tests.worker_process import WorkerProcess, wait_until
from workers.publisher import make_broker

# the reconciler's refund steps with a short grace: a SENT refund unanswered for 2 s is resumed
REFUND_HEAL = dataclasses.replace(HEAL_POLICY, refund_resume_after=timedelta(seconds=2))


@pytest.fixture(autouse=True)
def _fresh_ecpay(world):
    """Each proof counts from an empty ECPay ledger (world.reset() leaves the ECPay sandbox alone)."""
    httpx.post(f"{world.ecpay_url}/_sandbox/reset").raise_for_status()
    yield
    _config(world, do_action_delay_s=0.0, do_action_answer="normal")


def _config(world, **changes) -> None:
    httpx.post(f"{world.ecpay_url}/_sandbox/config", json=changes).raise_for_status()


def _ledger(world) -> dict[str, list[tuple[str, int]]]:
    """merchant_trade_no -> the refunds (and voids) ECPay carried out for that trade."""
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in httpx.get(f"{world.ecpay_url}/_sandbox/refunds").json():
        out[r["merchant_trade_no"]].append((r["action"], r["amount"]))
    return out


def _paid_by_card(db, world, behaviours_list: list[list]) -> list[Order]:
    """Orders paid by card at the ECPay sandbox; ECPay's notification (with its real TradeNo) reaches the API."""
    orders = [place(db, behaviours) for behaviours in behaviours_list]
    for order in orders:
        open_paid_trade(world, order)
        trade_no = httpx.get(f"{world.ecpay_url}/_sandbox/trades/{order.merchant_trade_no}").json()[
            "trade_no"
        ]
        answer = httpx.post(f"{world.api_url}/ecpay/return", data=notice(order, TradeNo=trade_no), timeout=30)
        assert answer.text == "1|OK"
    return orders


def _mix(n: int) -> list[list]:
    """Every other order fails whole (refund of all of it), the others partly (a share of the charge)."""
    return [[B.CUSTOMER_FAILURE] if i % 2 == 0 else [B.SUCCESS, B.CUSTOMER_FAILURE] for i in range(n)]


def _expected(db, order: Order) -> int:
    """What the refund of `order` must be: all of it, or the failed items' share rounded up."""
    failed = scalar(
        db, "SELECT coalesce(sum(price_twd), 0) FROM payment_items WHERE payment_id = :p AND status = 'FAILED'",
        p=order.payment_id,
    )  # fmt: skip
    subtotal = scalar(db, "SELECT subtotal_twd FROM payments WHERE id = :p", p=order.payment_id)
    return -(-order.amount_twd * int(failed) // int(subtotal))  # type: ignore[arg-type]


def _wait_for_crash_point(db, rt, orders: list[Order], hits, log: Path, timeout: float = 90) -> list[int]:
    """Poll `hits()` until it finds refunds at the crash point; meanwhile reconciliation ticks (no resume: its
    grace is minutes) bring back messages a killed worker took with it. [] once no refund can reach it."""
    deadline, last_tick = time.monotonic() + timeout, 0.0
    with rt.ecpay.client() as client:
        while time.monotonic() < deadline:
            found = hits()
            if found:
                return found
            if time.monotonic() - last_tick > 2:
                waiting = scalar(
                    db, "SELECT count(*) FROM payments p WHERE p.id = ANY(:ids) AND (p.status IN "
                    "('PENDING', 'PAID', 'FAILED', 'PARTIAL') OR EXISTS (SELECT 1 FROM refunds r "
                    "WHERE r.payment_id = p.id AND r.status = 'REQUESTED'))", ids=[o.payment_id for o in orders],
                )  # fmt: skip
                if waiting == 0:
                    return []
                outbox.sweep(db, rt.publisher, older_than=timedelta(seconds=1))  # type: ignore[arg-type]
                reconcile(rt.uow, rt.ecpay, client, policy=HEAL_POLICY)
                last_tick = time.monotonic()
            time.sleep(0.05)
    raise AssertionError("the crash point was never reached\n" + log.read_text()[-3000:])


def _refund_rows(db, orders: list[Order]) -> list[tuple]:
    with db.connect() as conn:
        from sqlalchemy import text

        return conn.execute(
            text(
                "SELECT r.id, r.payment_id, r.status, r.amount_twd, r.sends FROM refunds r "
                "WHERE r.payment_id = ANY(:ids) ORDER BY r.id"
            ),
            {"ids": [o.payment_id for o in orders]},
        ).all()


def _refund_history(db, orders: list[Order]) -> dict[int, list[tuple[str | None, str]]]:
    from sqlalchemy import text

    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT refund_id, from_status, to_status FROM refund_history WHERE payment_id = ANY(:ids) "
                "ORDER BY id"
            ),
            {"ids": [o.payment_id for o in orders]},
        ).all()
    out: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for refund_id, frm, to in rows:
        out[refund_id].append((frm, to))
    return out


def _all_refunded(db, orders: list[Order]) -> bool:
    return (
        scalar(
            db, "SELECT count(*) FROM payments WHERE id = ANY(:ids) AND status = 'REFUNDED'",
            ids=[o.payment_id for o in orders],
        ) == len(orders)
    )  # fmt: skip


def _heal(db, rt, env, log: Path, orders: list[Order], timeout: float = 120) -> None:
    """A new worker, the outbox sweeper and reconciliation ticks (short resume grace) until all is refunded."""
    with WorkerProcess(env, log_path=log), rt.ecpay.client() as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not _all_refunded(db, orders):
            outbox.sweep(db, rt.publisher, older_than=timedelta(0))  # type: ignore[arg-type]
            reconcile(rt.uow, rt.ecpay, client, policy=REFUND_HEAL)
            time.sleep(1)
    assert _all_refunded(db, orders), f"{_refund_rows(db, orders)}\n" + log.read_text()[-3000:]


def _assert_refunded_exactly_once(db, world, orders: list[Order]) -> None:
    """Each payment: one refund ECPay carried out, of the right amount; our record agrees, chain unbroken."""
    ledger = _ledger(world)
    rows = _refund_rows(db, orders)
    history = _refund_history(db, orders)
    per_payment = Counter(r[1] for r in rows)
    for order in orders:
        want = _expected(db, order)
        assert ledger[order.merchant_trade_no] == [("R", want)], (order, ledger[order.merchant_trade_no])
        assert per_payment[order.payment_id] == 1, f"payment {order.payment_id} has {per_payment} refunds"
        assert scalar(db, "SELECT refunded_twd FROM payments WHERE id = :p", p=order.payment_id) == want
    for refund_id, payment_id, status, _amount, _sends in rows:
        assert status == "CONFIRMED", (refund_id, payment_id, status)
        chain = history[refund_id]
        assert chain[0] == (None, "REQUESTED") and chain[-1] == ("SENT", "CONFIRMED"), chain
        assert all(a[1] == b[0] for a, b in itertools.pairwise(chain)), chain
    assert_invariants(db, world, orders)


def _assert_each_customer_told_once(db, world, rt, env, log: Path, orders: list[Order]) -> None:
    """The LINE simulator holds, per customer, one message for the order's outcome (paid and not or partly
    delivered) and one for its refund, though the worker died with refunds half done."""
    ids = [o.payment_id for o in orders]
    waiting = "SELECT count(*) FROM customer_messages WHERE status = 'QUEUED' AND payment_id = ANY(:ids)"
    with WorkerProcess(env, log_path=log):
        deadline = time.monotonic() + 60
        while scalar(db, waiting, ids=ids) and time.monotonic() < deadline:
            outbox.sweep(db, rt.publisher, older_than=timedelta(0))  # type: ignore[arg-type]
            time.sleep(0.5)
    assert scalar(db, waiting, ids=ids) == 0, log.read_text()[-3000:]
    for order in orders:
        user = scalar(
            db, "SELECT c.line_user_id FROM customers c JOIN payments p ON p.customer_id = c.id WHERE p.id = :p",
            p=order.payment_id,
        )  # fmt: skip
        pushes = httpx.get(f"{world.line_url}/_sandbox/messages", params={"to": user}).json()
        texts = [p["messages"][0]["text"] for p in pushes]
        outcome = [t for t in texts if "tidak bisa dikirim" in t or "hanya sebagian terkirim" in t]
        refunded = [t for t in texts if "sudah dikembalikan" in t]
        assert (len(texts), len(outcome), len(refunded)) == (2, 1, 1), texts


def test_refund_worker_killed_after_doaction_left_refunds_each_payment_once(
    db, world, rt, worker_env, tmp_path
):
    catalog(db)
    log = tmp_path / "worker.log"
    # ECPay makes each refund at once but answers 3 s later: the window in which the worker dies
    _config(world, do_action_delay_s=3.0)
    try:
        worker = WorkerProcess(worker_env, log_path=log).start()
        orders = _paid_by_card(db, world, _mix(max(4, PROFILE.orders)))
        by_trade = {o.merchant_trade_no: o for o in orders}
        killed: list[int] = []  # refunds ECPay made whose answer the killed worker never recorded
        for _ in range(PROFILE.kills):

            def made_not_recorded() -> list[int]:
                made = {t for t, refunds in _ledger(world).items() if refunds and t in by_trade}
                sent = {r[1]: r[0] for r in _refund_rows(db, orders) if r[2] == "SENT"}
                hits = [sent[by_trade[t].payment_id] for t in made if by_trade[t].payment_id in sent]
                return [h for h in hits if h not in killed]

            hits = _wait_for_crash_point(db, rt, orders, made_not_recorded, log)
            worker.kill()
            if not hits:  # every refund left already: no further crash point to reach
                break
            killed.extend(hits)
            worker = WorkerProcess(worker_env, log_path=log).start()
        assert killed, "the crash point was never reached"
        worker.kill()
        for refund_id in killed:  # the crash point: made at ECPay, still SENT here
            assert scalar(db, "SELECT status FROM refunds WHERE id = :r", r=refund_id) == "SENT"
    finally:
        _config(world, do_action_delay_s=0.0)
    _heal(db, rt, worker_env, tmp_path / "worker2.log", orders)
    _assert_refunded_exactly_once(db, world, orders)
    _assert_each_customer_told_once(db, world, rt, worker_env, tmp_path / "worker3.log", orders)
    for refund_id in killed:  # confirmed from ECPay's record, never sent a second time
        assert scalar(db, "SELECT sends FROM refunds WHERE id = :r", r=refund_id) == 1
        assert scalar(db, "SELECT ecpay_answer FROM refunds WHERE id = :r", r=refund_id).startswith(
            "ECPay's record"
        )


def test_reconciler_killed_mid_refund_recovery_refunds_each_payment_once(db, world, rt, worker_env, tmp_path):
    catalog(db)
    log = tmp_path / "worker.log"
    n = max(4, PROFILE.orders)
    # Given refunds left SENT both ways: half made at ECPay with the answer lost, half that never reached it
    _config(world, do_action_answer="drop")
    try:
        with WorkerProcess(worker_env, log_path=tmp_path / "first.log"):
            lost = _paid_by_card(db, world, _mix(n // 2))
            assert wait_until(
                lambda: (
                    sum(r[2] == "SENT" for r in _refund_rows(db, lost)) == len(lost)
                    and sum(bool(_ledger(world)[o.merchant_trade_no]) for o in lost) == len(lost)
                ),
                timeout=90,
            ), (tmp_path / "first.log").read_text()[-3000:]
    finally:
        _config(world, do_action_answer="normal")
    # a worker whose ECPay is unreachable: the refunds are SENT, and their DoAction never reaches ECPay
    dead_env = {**worker_env, "ECPAY_BASE_URL": "http://127.0.0.1:9"}
    with WorkerProcess(dead_env, log_path=tmp_path / "dead.log"):
        never_paid = _paid_by_card(db, world, _mix(n - n // 2))
        assert wait_until(
            lambda: sum(r[2] == "SENT" for r in _refund_rows(db, never_paid)) == len(never_paid), timeout=90
        ), (tmp_path / "dead.log").read_text()[-3000:]
    orders = lost + never_paid
    assert {r[2] for r in _refund_rows(db, orders)} == {"SENT"}
    ledger = _ledger(world)
    assert sum(len(ledger[o.merchant_trade_no]) for o in orders) == len(lost)
    # When the reconciler runs in a worker (grace passed), re-sending slowly, and is killed mid-recovery
    _backdate_sent(db, orders)
    _config(world, do_action_delay_s=2.0)
    broker = make_broker(worker_env["REDIS_URL"])
    worker = WorkerProcess({**worker_env, "ESA_REFUND_RESUME_AFTER_SECONDS": "30"}, log_path=log).start()
    try:
        broker.enqueue(dramatiq.Message(queue_name="reconciliation", actor_name="reconcile_payments",
                                        args=(), kwargs={}, options={}))  # fmt: skip
        never_trades = {o.merchant_trade_no for o in never_paid}

        def mid_recovery() -> bool:  # a re-send ECPay has made while its refund is still SENT here
            made = {t for t, refunds in _ledger(world).items() if refunds and t in never_trades}
            status = "SELECT r.status FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE p.merchant_trade_no = :t"
            return any(scalar(db, status, t=t) == "SENT" for t in made)

        assert wait_until(mid_recovery, timeout=60, interval=0.02), log.read_text()[-3000:]
        worker.kill()
    finally:
        _config(world, do_action_delay_s=0.0)
    assert scalar(db, "SELECT count(*) FROM job_runs WHERE kind = 'reconcile' AND status = 'running'") == 1
    assert scalar(
        db, "SELECT count(*) FROM refunds WHERE status = 'SENT' AND payment_id = ANY(:ids)",
        ids=[o.payment_id for o in orders],
    ) >= 1  # fmt: skip
    # Then the next ticks heal the rest: each payment refunded exactly once at ECPay
    _heal(db, rt, worker_env, tmp_path / "worker2.log", orders)
    _assert_refunded_exactly_once(db, world, orders)
    for order in lost:  # the lost answers were confirmed from ECPay's record, never sent again
        assert scalar(db, "SELECT sends FROM refunds WHERE payment_id = :p", p=order.payment_id) == 1


def _backdate_sent(db, orders: list[Order]) -> None:
    from sqlalchemy import text

    with db.begin() as conn:
        conn.execute(
            text("UPDATE refunds SET sent_at = sent_at - interval '1 hour' WHERE payment_id = ANY(:ids)"),
            {"ids": [o.payment_id for o in orders]},
        )
