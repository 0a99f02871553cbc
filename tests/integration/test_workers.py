"""Workers for real: dramatiq worker processes on a real Redis broker, the simulators on real ports."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text, update
from sqlmodel import Session, select

from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime
from esa_domain.models import Alert, ItemAttempt, JobRun, Payment, PaymentItem, SupplierOffer
from esa_domain.operations.links import order_url
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.operations.reconciliation import reconcile
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from sandbox.behaviours import Behaviour, target_for
from tests import factories
from tests.supplier_world import catalog, start_world
from tests.worker_process import WorkerProcess, wait_until
from workers.publisher import DramatiqPublisher, make_broker

KEY, IV = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(
        engine, slow_answer_seconds=3.0
    )  # a SLOW purchase is still in flight when a worker is killed
    yield w
    w.servers.stop()


@pytest.fixture
def rt(db, world, redis_url, redis_client):
    """The API publishes to the real broker, like production."""
    runtime = Runtime(world.settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    _api_app(world).state.runtime = runtime
    world.reset()
    return runtime


def _api_app(world):
    for server, _ in world.servers._running:
        app = server.config.app
        if getattr(app, "title", "") == "ESA API":
            return app
    raise LookupError("API app not running")


@pytest.fixture
def worker_env(world, database_url, redis_url, tmp_path) -> dict:
    return {
        **world.env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_PUBLIC_URL": world.api_url,
        "SUPPLIER_READ_TIMEOUT_S": "10",
        "ESA_ENV": "test",
    }


def _paid_order(db, world, target: str, product: str = "TSEL10") -> tuple[int, int]:
    """Place an order and pay it with a signed ECPay notification through the API."""
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow, OrderRequest(cust.id, f"k-{time.monotonic_ns()}", (OrderLine(product, target),))
        )
    fields = {
        "MerchantID": "3002607",
        "MerchantTradeNo": placed.merchant_trade_no,
        "RtnCode": "1",
        "RtnMsg": "ok",
        "TradeNo": "T1",
        "TradeAmt": str(placed.amount_twd),
        "PaymentType": "Credit_CreditCard",
        "SimulatePaid": "0",
        "CustomField1": str(placed.payment_id),
    }
    fields["CheckMacValue"] = check_mac_value(fields, KEY, IV)
    assert httpx.post(f"{world.api_url}/ecpay/return", data=fields).text == "1|OK"
    with Session(db) as s:
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == placed.payment_id)).one()
    return placed.payment_id, item_id


def _send(env: dict, queue: str, actor: str) -> None:
    """What the periodiq scheduler does on a tick: enqueue the periodic actor's message."""
    make_broker(env["REDIS_URL"]).enqueue(
        dramatiq.Message(queue_name=queue, actor_name=actor, args=(), kwargs={}, options={})
    )


def _status(db, model, row_id) -> str:
    with Session(db) as s:
        return s.get(model, row_id, populate_existing=True).status


def _delivered(world, item_id) -> list[dict]:
    return [t for t in world.delivered() if t["reference"].startswith(f"ESA{item_id}S")]


def test_paid_order_is_fulfilled_end_to_end_by_a_worker_process(db, world, rt, worker_env, tmp_path):
    catalog(db)
    with WorkerProcess(worker_env, log_path=tmp_path / "worker.log"):
        payment_id, item_id = _paid_order(db, world, target_for(Behaviour.PENDING_THEN_SUCCESS))
        assert wait_until(lambda: _status(db, Payment, payment_id) == "SUCCESS", timeout=30), Path(
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    assert len(_delivered(world, item_id)) == 1


def test_dropped_notification_is_healed_by_reconciliation(db, world, rt, worker_env, tmp_path):
    catalog(db)
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, "k", (OrderLine("TSEL10", "081234560000"),)))
    # the payer paid at ECPay, whose notification never arrives
    with httpx.Client(base_url=world.api_url, follow_redirects=True) as browser:
        handoff = browser.get(f"/ecpay/checkout/{placed.merchant_trade_no}").text
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', handoff)}
        browser.post(f"{world.ecpay_url}/Cashier/AioCheckOut/V5", data=fields)
    httpx.post(f"{world.ecpay_url}/_sandbox/trades/{placed.merchant_trade_no}/pay", params={"mode": "never"})
    with Session(db) as s:  # ten minutes later
        s.exec(
            update(Payment)
            .where(Payment.id == placed.payment_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=11))
        )
        s.commit()
    with WorkerProcess(worker_env, log_path=tmp_path / "worker.log"):
        _send(worker_env, "reconciliation", "reconcile_payments")
        assert wait_until(lambda: _status(db, Payment, placed.payment_id) == "SUCCESS", timeout=40), Path(
            tmp_path / "worker.log"
        ).read_text()[-3000:]
    with Session(db) as s:
        run = s.exec(select(JobRun).where(JobRun.kind == "reconcile")).one()
    assert run.status == "ok" and run.summary["payments_healed"] == 1


def test_supplier_outage_during_sync_leaves_the_others_updated(db, world, rt, worker_env, tmp_path):
    catalog(db)
    env = {**worker_env, "LAPAKGAMING_BASE_URL": "http://127.0.0.1:9"}  # nothing listens there
    with WorkerProcess(env, log_path=tmp_path / "worker.log"):
        _send(env, "catalog", "sync_all_catalogs")

        def runs():
            with Session(db) as s:
                return {r.kind: r.status for r in s.exec(select(JobRun)).all() if r.status != "running"}

        assert wait_until(lambda: len(runs()) == 5, timeout=60), runs()
    assert runs() == {
        "catalog_sync:lapakgaming": "failed",
        "catalog_sync:iak": "ok",
        "catalog_sync:billfazz": "ok",
        "catalog_sync:redision": "ok",
        "catalog_sync:pulsaif": "ok",
    }
    with Session(db) as s:
        synced = {o.supplier_sku: o.synced_at for o in s.exec(select(SupplierOffer)).all()}
    assert synced["ML78_8-S2"] is None  # Lapak's offer untouched
    assert all(synced[sku] is not None for sku in ("S10", "htelkomsel10000", "TSEL10"))


def test_stuck_order_produces_exactly_one_alert_whose_link_opens_its_order_page(
    db, world, rt, worker_env, tmp_path
):
    catalog(db)
    env = {**worker_env, "ECPAY_BASE_URL": "http://127.0.0.1:9"}  # ECPay unreachable: nothing can settle it
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow,
            OrderRequest(cust.id, "k", (OrderLine("TSEL10", "081234560000"),)),
            now=datetime.now(UTC) - timedelta(hours=3),
        )
    httpx.post(f"{world.line_url}/_sandbox/reset")
    with WorkerProcess(env, log_path=tmp_path / "worker.log"):
        for _ in range(3):  # three reconciliation ticks
            _send(env, "reconciliation", "reconcile_payments")
        messages = lambda: httpx.get(f"{world.line_url}/_sandbox/messages").json()  # noqa: E731
        assert wait_until(lambda: len(messages()) >= 1, timeout=40), Path(
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        time.sleep(2)  # the other ticks have run by now
        sent = messages()
    with Session(db) as s:
        alerts = s.exec(select(Alert)).all()
    assert [(a.condition, a.payment_id, a.status) for a in alerts] == [
        ("payment_unconfirmed", placed.payment_id, "sent")
    ]
    assert len(sent) == 1
    link = order_url(world.api_url, placed.payment_id)
    assert alerts[0].link == link and link.endswith(f"/orders/{placed.payment_id}")
    assert link in str(sent[0])  # the flex message's "Open order" button


def test_killing_a_worker_mid_purchase_still_delivers_exactly_once(db, world, rt, worker_env, tmp_path):
    catalog(db)
    # Given a worker in the middle of a slow purchase
    first = WorkerProcess(worker_env, log_path=tmp_path / "worker1.log").start()
    payment_id, item_id = _paid_order(db, world, target_for(Behaviour.SLOW))
    with Session(db) as s:
        assert wait_until(
            lambda: (
                s.execute(
                    text("SELECT count(*) FROM item_attempts WHERE item_id = :i AND state = 'SENDING'"),
                    {"i": item_id},
                ).scalar()
                == 1
            ),
            timeout=20,
        )
    # When it is SIGKILLed before it can record the answer
    first.kill()
    assert _status(db, PaymentItem, item_id) == "PROCESSING"
    # Then the reconciler notices the stalled item, and a new worker finishes it with the same reference
    rt_now = Runtime(world.settings, db, rt.publisher)
    with rt_now.ecpay.client() as client:
        reconcile(rt_now.uow, rt_now.ecpay, client, policy=ReconcilePolicy(stall_after=timedelta(0)))
    with WorkerProcess(worker_env, log_path=tmp_path / "worker2.log"):
        assert wait_until(lambda: _status(db, Payment, payment_id) == "SUCCESS", timeout=40), Path(
            tmp_path / "worker2.log"
        ).read_text()[-3000:]
    delivered = _delivered(world, item_id)
    assert len(delivered) == 1
    with Session(db) as s:
        attempts = s.exec(select(ItemAttempt).where(ItemAttempt.item_id == item_id)).all()
    assert [a.state for a in attempts] == ["SUCCESS"]  # one attempt, same reference: never bought twice


def test_a_reconcile_run_left_running_by_a_dead_worker_is_marked_abandoned(db, world, rt):
    with Session(db) as s:
        s.add(JobRun(kind="reconcile", started_at=datetime.now(UTC) - timedelta(hours=1)))
        s.commit()
    with rt.ecpay.client() as client:
        reconcile(rt.uow, rt.ecpay, client)
    with Session(db) as s:
        runs = sorted((r.started_at, r.status) for r in s.exec(select(JobRun)).all())
    assert [status for _, status in runs] == ["abandoned", "ok"]
