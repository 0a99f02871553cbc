"""Crash points of the e-invoice path (issue 19): the worker is SIGKILLed between ECPay's e-invoice request and
its commit, once while issuing (ECPay issued the invoice, its answer never recorded) and once while making an
allowance (ECPay made it, the answer never recorded). Each order is delivered, partly refunded, then refunded
in full; after every crash a new worker, the reconciler (which re-queues lagging invoices in resume mode) and
the outbox sweeper heal. Counted from the e-invoice simulator's own ledger: per order exactly one invoice, one
allowance for the partial refund and one final allowance for the rest, nothing issued or allowed twice.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from esa_domain.infra import outbox
from esa_domain.operations.actions import refund
from esa_domain.operations.operators import create_operator
from esa_domain.operations.reconciliation import reconcile
from tests.proof.conftest import PROFILE
from tests.proof.harness import HEAL_POLICY, B, Order, scalar
from tests.proof.test_refund_crash_points import _paid_by_card
from tests.supplier_world import catalog
from tests.worker_process import WorkerProcess, wait_until

ORDERS = max(3, PROFILE.orders // 2)


@pytest.fixture(autouse=True)
def _fresh_ledgers(world):
    for url in (world.ecpay_url, world.invoice_url):
        httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    yield
    httpx.post(f"{world.invoice_url}/_sandbox/delays", json={}).raise_for_status()


def _ledger(world) -> dict[str, dict]:
    """RelateNumber -> the invoice ECPay (the simulator) holds for it."""
    invoices = httpx.get(f"{world.invoice_url}/_sandbox/ledger").json()["invoices"]
    by_relate: dict[str, list] = defaultdict(list)
    for inv in invoices:
        by_relate[inv["relate_number"]].append(inv)
    assert all(len(v) == 1 for v in by_relate.values()), by_relate  # never two invoices for one RelateNumber
    return {k: v[0] for k, v in by_relate.items()}


def _rows(db, sql: str, **params):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with db.connect() as conn:
        return conn.execute(text(sql), params).all()


def _ids(orders: list[Order]) -> list[int]:
    return [o.payment_id for o in orders]


def _kill_between_request_and_commit(db, world, worker_env, log: Path, crashed: str) -> None:
    """Start a worker and SIGKILL it once ECPay holds what the SQL `crashed` says our record does not yet."""
    worker = WorkerProcess(worker_env, log_path=log).start()
    assert wait_until(lambda: _at_crash_point(db, world, crashed), timeout=60), log.read_text()[-3000:]
    worker.kill()


def _at_crash_point(db, world, crashed: str) -> bool:
    ledger = _ledger(world)
    for relate, invoice_no, allowed in _rows(db, crashed):
        held = ledger.get(relate)
        if held is None:
            continue
        if invoice_no is None or len([a for a in held["allowances"] if not a["invalid"]]) > allowed:
            return True
    return False


def _heal(db, rt, worker_env, log: Path, done: str, orders: list[Order], timeout: float = 120) -> None:
    """A new worker, the outbox sweeper and reconciliation ticks until the SQL `done` counts every order."""
    with WorkerProcess(worker_env, log_path=log), rt.ecpay.client() as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if scalar(db, done, ids=_ids(orders)) == len(orders):
                return
            outbox.sweep(db, rt.publisher, older_than=timedelta(0))  # type: ignore[arg-type]
            reconcile(rt.uow, rt.ecpay, client, policy=HEAL_POLICY)
            time.sleep(1)
    raise AssertionError(f"{_rows(db, 'SELECT * FROM invoices')}\n" + log.read_text()[-3000:])


def _refund_each(db, rt, orders: list[Order], amount: int | None, reason: str) -> None:
    with rt.uow() as uow:
        op = create_operator(uow.session, f"ops-{reason[:8]}", "a-long-password", "operator")
        uow.commit()
    for order in orders:
        with rt.uow() as uow:
            refund(uow, op, order.payment_id, reason, amount)


def test_one_invoice_one_allowance_then_the_final_one_through_kills(db, world, rt, worker_env, tmp_path):
    catalog(db)
    orders = _paid_by_card(db, world, [[B.SUCCESS] for _ in range(ORDERS)])
    ids = _ids(orders)
    # Given ECPay answering Issue slowly, a worker delivers the orders (each invoice opened with its settlement)
    # and is SIGKILLed once ECPay has issued an invoice whose answer is not recorded here
    httpx.post(f"{world.invoice_url}/_sandbox/delays", json={"Issue": 2.5}).raise_for_status()
    waiting = "SELECT i.relate_number, i.invoice_no, 0 FROM invoices i WHERE i.status = 'PENDING'"
    _kill_between_request_and_commit(db, world, worker_env, tmp_path / "issue.log", waiting)
    httpx.post(f"{world.invoice_url}/_sandbox/delays", json={}).raise_for_status()
    issued = "SELECT count(*) FROM invoices WHERE payment_id = ANY(:ids) AND status = 'ISSUED'"
    _heal(db, rt, worker_env, tmp_path / "heal1.log", issued, orders)

    # Then each order has exactly one invoice at ECPay, of its amount, and our record names it
    ledger = _ledger(world)
    rows = _rows(
        db,
        "SELECT payment_id, relate_number, invoice_no, random_number, issued_twd FROM invoices "
        "WHERE payment_id = ANY(:ids)",
        ids=ids,
    )
    assert len(rows) == len(orders) == len(ledger)
    amounts = {o.payment_id: o.amount_twd for o in orders}
    for payment_id, relate, invoice_no, random_number, issued_twd in rows:
        held = ledger[relate]
        assert (held["invoice_no"], held["random_number"]) == (invoice_no, random_number)
        assert held["sales_amount"] == issued_twd == amounts[payment_id]
    issues = [r for r in httpx.get(f"{world.invoice_url}/_sandbox/ledger").json()["requests"]
              if r["operation"] == "Issue" and r["rtn_code"] == 1]  # fmt: skip
    assert len(issues) == len(orders)  # a retry asked first: never a second successful Issue

    # When each is partly refunded (NT$5) while the worker dies between ECPay's Allowance and its commit
    httpx.post(f"{world.invoice_url}/_sandbox/delays", json={"Allowance": 2.5}).raise_for_status()
    _refund_each(db, rt, orders, 5, "goodwill: late")
    open_allowances = (
        "SELECT i.relate_number, i.invoice_no, (SELECT count(*) FROM invoice_allowances d WHERE d.invoice_id = i.id "
        "AND d.status = 'DONE') FROM invoices i JOIN invoice_allowances a ON a.invoice_id = i.id "
        "WHERE a.status = 'REQUESTED'"
    )
    _kill_between_request_and_commit(db, world, worker_env, tmp_path / "allow.log", open_allowances)
    httpx.post(f"{world.invoice_url}/_sandbox/delays", json={}).raise_for_status()
    one_done = (
        "SELECT count(*) FROM invoices i WHERE i.payment_id = ANY(:ids) AND (SELECT count(*) FROM "
        "invoice_allowances a WHERE a.invoice_id = i.id AND a.status = 'DONE') = 1"
    )
    _heal(db, rt, worker_env, tmp_path / "heal2.log", one_done, orders)

    # And the rest is refunded: the final adjustment (an allowance: one stands already)
    _refund_each(db, rt, orders, None, "dispute: all")
    two_done = one_done.replace("= 1", "= 2")
    _heal(db, rt, worker_env, tmp_path / "heal3.log", two_done, orders)

    # Then ECPay holds, per order, one invoice with exactly two allowances: NT$5 and the rest; nothing remains
    ledger = _ledger(world)
    for order in orders:
        relate = scalar(db, "SELECT relate_number FROM invoices WHERE payment_id = :p", p=order.payment_id)
        held = ledger[relate]
        assert [a["amount"] for a in held["allowances"] if not a["invalid"]] == [5, order.amount_twd - 5], (
            held
        )
        assert held["remain"] == 0 and not held["invalid"]
        adjustments = _rows(
            db,
            "SELECT kind, amount_twd, status FROM invoice_allowances WHERE payment_id = :p ORDER BY id",
            p=order.payment_id,
        )
        assert [tuple(a) for a in adjustments] == [
            ("allowance", 5, "DONE"), ("allowance", order.amount_twd - 5, "DONE"),
        ]  # fmt: skip
        assert (
            scalar(db, "SELECT refunded_twd FROM payments WHERE id = :p", p=order.payment_id)
            == order.amount_twd
        )
        # every move of the invoice and its adjustments is in its history, a chain from birth
        chain = _rows(
            db,
            "SELECT adjustment_id, from_status, to_status FROM invoice_history WHERE payment_id = :p "
            "ORDER BY id",
            p=order.payment_id,
        )
        by_subject: dict = defaultdict(list)
        for adjustment_id, frm, to in chain:
            by_subject[adjustment_id].append((frm, to))
        for moves in by_subject.values():
            assert moves[0][0] is None and all(a[1] == b[0] for a, b in itertools.pairwise(moves)), moves
