"""Helpers for the proofs: orders, signed notifications, processes to kill, healing, and the invariants.

The invariants are read from the database and from the simulators' own ledgers, never from mocks.
"""

from __future__ import annotations

import html
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.infra import outbox
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.operations.reconciliation import reconcile
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from sandbox.behaviours import Behaviour, target_for
from tests import factories
from tests.servers import free_port
from tests.supplier_world import World
from tests.worker_process import ROOT, WorkerProcess, wait_until

KEY, IV, MID = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "3002607"
B = Behaviour

# behaviour -> the item's final status once everything has healed
EXPECTED_ITEM = {
    B.SUCCESS: "SUCCESS",
    B.SLOW: "SUCCESS",
    B.TIMEOUT_BUT_SUCCEEDS: "SUCCESS",
    B.PENDING_THEN_SUCCESS: "SUCCESS",
    B.NO_CALLBACK: "SUCCESS",
    B.DUPLICATE_CALLBACK: "SUCCESS",
    B.OUT_OF_ORDER_CALLBACKS: "SUCCESS",
    B.SERVER_ERROR_CREATED: "SUCCESS",
    B.CUSTOMER_FAILURE: "FAILED",
    B.PRODUCT_FAILURE: "FAILED",
}
MIX = list(EXPECTED_ITEM)
# a short stall policy: a PROCESSING item this old lost its worker (legit calls take at most ~3.5 s here)
HEAL_POLICY = ReconcilePolicy(
    query_after=timedelta(0),
    redispatch_after=timedelta(seconds=2),
    stall_after=timedelta(seconds=4),
    overdue_check=timedelta(seconds=1),
)
ITEM_DONE = ("SUCCESS", "FAILED", "NEEDS_REVIEW")
_REF = re.compile(r"^ESA(\d+)S(\d+)$")


@dataclass
class Order:
    payment_id: int
    merchant_trade_no: str
    amount_twd: int
    item_ids: list[int]
    behaviours: list[Behaviour]


def place(db: Engine, behaviours: list[Behaviour], key: str | None = None) -> Order:
    """Place one order with one TSEL10 item per behaviour (its target asks the simulators for it)."""
    key = key or f"k-{time.monotonic_ns()}"
    cust = factories.customer(db, f"U-{key}")
    lines = tuple(OrderLine("TSEL10", target_for(b, prefix=f"0812{i:04d}")) for i, b in enumerate(behaviours))
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, key, lines))  # type: ignore[arg-type]
    with db.connect() as conn:
        items = list(
            conn.execute(
                text("SELECT id FROM payment_items WHERE payment_id = :p ORDER BY id"),
                {"p": placed.payment_id},
            ).scalars()
        )
    return Order(placed.payment_id, placed.merchant_trade_no, placed.amount_twd, items, list(behaviours))


def notice(order: Order, **over: str) -> dict[str, str]:
    """ECPay's signed ReturnURL notification that `order` was paid."""
    fields = {
        "MerchantID": MID,
        "MerchantTradeNo": order.merchant_trade_no,
        "StoreID": "",
        "RtnCode": "1",
        "RtnMsg": "交易成功",
        "TradeNo": "2311230000123456",
        "TradeAmt": str(order.amount_twd),
        "PaymentDate": "2026/11/23 20:00:00",
        "PaymentType": "Credit_CreditCard",
        "PaymentTypeChargeFee": "1",
        "TradeDate": "2026/11/23 19:59:00",
        "SimulatePaid": "0",
        "CustomField1": str(order.payment_id),
        "CustomField2": "",
        "CustomField3": "",
        "CustomField4": "",
        **over,
    }
    fields["CheckMacValue"] = check_mac_value(fields, KEY, IV)
    return fields


def notify(api_url: str, order: Order) -> httpx.Response:
    return httpx.post(f"{api_url}/ecpay/return", data=notice(order), timeout=30)


def open_paid_trade(world: World, order: Order) -> None:
    """The payer paid at ECPay (the sandbox knows the trade as paid) but no notification is ever sent."""
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        handoff = browser.get(f"{world.api_url}/ecpay/checkout/{order.merchant_trade_no}").text
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', handoff)}
        browser.post(f"{world.ecpay_url}/Cashier/AioCheckOut/V5", data=fields)
    r = httpx.post(
        f"{world.ecpay_url}/_sandbox/trades/{order.merchant_trade_no}/pay", params={"mode": "never"}
    )
    r.raise_for_status()


def backdate(db: Engine, payment_ids: list[int], minutes: int = 11) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE payments SET created_at = created_at - make_interval(mins => :m) WHERE id = ANY(:ids)"
            ),
            {"m": minutes, "ids": payment_ids},
        )


def scalar(db: Engine, sql: str, **params: object) -> object:
    with db.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# ---- processes ------------------------------------------------------------------------------------------


class WebProcess:
    """The API in its own uvicorn process (tests.proof.crash_app), optionally armed with a crash point."""

    def __init__(self, env: dict[str, str], crash: str | None, log_path: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        if crash:
            self.env["ESA_PROOF_CRASH"] = crash
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WebProcess:
        out = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.proof.crash_app:make_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/api/health", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=30), self.log_path.read_text()[-2000:]
        return self

    def died(self, timeout: float = 10) -> bool:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def attempts_in(db: Engine, state: str | None, item_ids: list[int]) -> list[tuple[int, str]]:
    """(item_id, reference) of the attempts of `item_ids` in `state` (None: in any state)."""
    with db.connect() as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                text(
                    "SELECT item_id, reference FROM item_attempts "
                    "WHERE (state = :s OR CAST(:s AS text) IS NULL) AND item_id = ANY(:ids)"
                ),
                {"s": state, "ids": item_ids},
            )
        ]


# ---- healing and invariants -----------------------------------------------------------------------------


def settled(db: Engine, orders: list[Order]) -> bool:
    """Every item final or in review, and every payment moved past PAID unless an item awaits review."""
    ids = [i for o in orders for i in o.item_ids]
    with db.connect() as conn:
        open_items = conn.execute(
            text("SELECT count(*) FROM payment_items WHERE id = ANY(:ids) AND status <> ALL(:done)"),
            {"ids": ids, "done": list(ITEM_DONE)},
        ).scalar()
        open_payments = conn.execute(
            text(
                "SELECT count(*) FROM payments p WHERE p.id = ANY(:ids) AND p.status IN ('PENDING', 'PAID') "
                "AND NOT EXISTS (SELECT 1 FROM payment_items i WHERE i.payment_id = p.id "
                "AND i.status = 'NEEDS_REVIEW')"
            ),
            {"ids": [o.payment_id for o in orders]},
        ).scalar()
    return open_items == 0 and open_payments == 0


def heal(
    db: Engine, rt: Runtime, env: dict[str, str], log_path: Path, orders: list[Order], timeout: float = 90
) -> None:
    """After the crashes: a new worker, reconciliation ticks with a short stall policy, the outbox sweeper."""
    with WorkerProcess(env, log_path=log_path), rt.ecpay.client() as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outbox.sweep(db, rt.publisher, older_than=timedelta(0))  # type: ignore[arg-type]
            reconcile(rt.uow, rt.ecpay, client, policy=HEAL_POLICY)
            if settled(db, orders):
                break
            time.sleep(1)
    assert settled(db, orders), _stuck_report(db, orders) + log_path.read_text()[-3000:]


def _stuck_report(db: Engine, orders: list[Order]) -> str:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.id, p.status, i.id, i.status, "
                "(SELECT string_agg(a.reference || ':' || a.state, ',') FROM item_attempts a "
                "WHERE a.item_id = i.id) FROM payments p JOIN payment_items i ON i.payment_id = p.id "
                "WHERE p.id = ANY(:ids) ORDER BY i.id"
            ),
            {"ids": [o.payment_id for o in orders]},
        ).all()
    return "not settled:\n" + "\n".join(map(str, rows)) + "\n"


def delivered_per_item(world: World) -> dict[int, list[dict]]:
    """item id -> the purchases the simulators delivered for it (their ledgers, across every supplier)."""
    out: dict[int, list[dict]] = defaultdict(list)
    for txn in world.delivered():
        m = _REF.match(txn["reference"])
        assert m, f"a delivery with a reference we never make: {txn}"
        out[int(m.group(1))].append(txn)
    return out


def assert_invariants(db: Engine, world: World, orders: list[Order], *, paid: bool = True) -> None:
    """The proof's invariants, from the database and the simulators' ledgers.

    - no order lost: every placed order is in the database, every status reached through a consistent history
      chain (from NULL, each step starting where the last ended, ending at the current status);
    - no payment accepted twice: at most one PAID history row per payment, exactly one for a paid one;
    - no purchase delivered twice: at most one delivery per item across all suppliers, exactly one for a
      SUCCESS item and by the supplier of its one SUCCESS attempt, none for a FAILED item;
    - every paid order reaches a final or review state, and each item the state its behaviour implies.
    """
    pids = [o.payment_id for o in orders]
    with db.connect() as conn:
        payments = dict(
            conn.execute(text("SELECT id, status FROM payments WHERE id = ANY(:ids)"), {"ids": pids}).all()
        )
        items = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                text("SELECT id, payment_id, status FROM payment_items WHERE payment_id = ANY(:ids)"),
                {"ids": pids},
            )
        }
        history = conn.execute(
            text(
                "SELECT payment_id, item_id, from_status, to_status FROM payment_history "
                "WHERE payment_id = ANY(:ids) ORDER BY id"
            ),
            {"ids": pids},
        ).all()
        attempts = conn.execute(
            text(
                "SELECT a.item_id, a.supplier_id, a.state FROM item_attempts a "
                "JOIN payment_items i ON i.id = a.item_id WHERE i.payment_id = ANY(:ids)"
            ),
            {"ids": pids},
        ).all()
    assert sorted(payments) == sorted(pids), "an order was lost"
    for o in orders:
        assert sorted(i for i, (p, _) in items.items() if p == o.payment_id) == sorted(o.item_ids)
    chains: dict[tuple[int, int | None], list[tuple[str | None, str]]] = defaultdict(list)
    for pid, item_id, frm, to in history:
        chains[(pid, item_id)].append((frm, to))
    for pid, status in payments.items():
        _assert_chain(chains[(pid, None)], status, f"payment {pid}")
        paid_rows = sum(to == "PAID" for _, to in chains[(pid, None)])
        assert paid_rows <= 1, f"payment {pid} accepted {paid_rows} times"
        if paid:
            assert paid_rows == 1, f"payment {pid} was never accepted"
    for item_id, (pid, status) in items.items():
        _assert_chain(chains[(pid, item_id)], status, f"item {item_id}")
    success_attempts = Counter(a[0] for a in attempts if a[2] == "SUCCESS")
    winner = {a[0]: a[1] for a in attempts if a[2] == "SUCCESS"}
    deliveries = delivered_per_item(world)
    for item_id, (_, status) in items.items():
        got = deliveries.get(item_id, [])
        assert len(got) <= 1, f"item {item_id} delivered {len(got)} times: {got}"
        assert success_attempts[item_id] <= 1
        if status == "SUCCESS":
            assert len(got) == 1, f"item {item_id} is SUCCESS without a delivery"
            assert _REF.match(got[0]["reference"]).group(2) == str(winner[item_id])  # type: ignore[union-attr]
        elif status == "FAILED":
            assert got == [], f"item {item_id} FAILED but the customer got {got}"
    if paid:
        for o in orders:
            for item_id, behaviour in zip(o.item_ids, o.behaviours, strict=True):
                assert items[item_id][1] == EXPECTED_ITEM[behaviour], (item_id, behaviour, items[item_id])
            assert payments[o.payment_id] not in ("PENDING", "PAID"), (o.payment_id, payments[o.payment_id])


def _assert_chain(chain: list[tuple[str | None, str]], current: str, what: str) -> None:
    assert chain, f"{what} has no history"
    assert chain[0][0] is None, f"{what}'s history does not start at creation: {chain}"
    for (_, prev_to), (frm, _) in itertools.pairwise(chain):
        assert frm == prev_to, f"{what}'s history is broken: {chain}"
    assert chain[-1][1] == current, f"{what} is {current} but its history ends at {chain[-1][1]}"
