"""`esa up` itself (cmd_up, in a process of its own, on the demo's simulators): its three scrape addresses answer,
its children beat, and a worker SIGKILLed under it is restarted with a message and finishes the order paid while
it was down. The one substitution: the web child is the API under uvicorn instead of the Reflex dashboard (the
same API; building the dashboard's frontend takes minutes and shares .web/ with the browser tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from sqlmodel import Session, select

from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.infra import heartbeat
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Payment
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories
from tests.servers import free_port
from tests.worker_process import wait_until

ROOT = Path(__file__).resolve().parents[2]
KEY, IV = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"  # ECPay's published stage keys, the demo's

UP = """
import sys
from esa_admin import cli
cli._web_cmd = lambda port: [sys.executable, "-m", "uvicorn", "--factory", "esa_api:create_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
raise SystemExit(cli.main(["up", "--port", sys.argv[1]]))
"""


def test_esa_up_serves_metrics_and_restarts_a_killed_worker_that_finishes_the_order(
    db, database_url, redis_url, redis_client, tmp_path
):
    web, sandbox, worker_metrics, scheduler_metrics = (free_port() for _ in range(4))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_ENV": "demo",
        "ESA_DATA_DIR": str(tmp_path / "esa"),
        "ESA_PUBLIC_URL": f"http://127.0.0.1:{web}",
        "ESA_SANDBOX_PORT": str(sandbox),
        "ESA_WORKER_METRICS_PORT": str(worker_metrics),
        "ESA_SCHEDULER_METRICS_PORT": str(scheduler_metrics),
        "ESA_HEARTBEAT_SECONDS": "1",
    }
    out_path = tmp_path / "esa-up.log"
    out = open(out_path, "ab")  # noqa: SIM115
    up = subprocess.Popen(
        [sys.executable, "-c", UP, str(web)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = lambda: out_path.read_text(errors="replace")  # noqa: E731
    try:
        assert wait_until(lambda: "ESA is up." in output() or up.poll() is not None, 240), output()[-3000:]
        assert up.poll() is None, output()[-3000:]
        for url in (
            f"http://127.0.0.1:{web}/metrics",
            f"http://127.0.0.1:{worker_metrics}/metrics",
            f"http://127.0.0.1:{scheduler_metrics}/metrics",
        ):
            assert wait_until(lambda url=url: _ok(url), 30), url
        assert wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{web}/api/health/workers").status_code == 200, 30
        )

        # the worker (dramatiq's parent and its processes, one process group) dies as an OOM kill would
        (worker_pid,) = {b["pid"] for b in heartbeat.alive(redis_client, "worker")}
        os.killpg(os.getpgid(worker_pid), signal.SIGKILL)
        payment_id = _paid_order(db, web)  # paid while no worker runs
        assert wait_until(lambda: "worker restarted (restart 1" in output(), 30), output()[-3000:]
        assert "worker stopped unexpectedly (killed by SIGKILL); restarting it in 1 s" in output()

        def done() -> bool:
            with Session(db) as s:
                return s.get(Payment, payment_id, populate_existing=True).status == "SUCCESS"

        assert wait_until(done, 60), output()[-3000:]
        assert "shutting everything down" not in output()
    finally:
        children = _descendants(up.pid)
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)  # esa up's Ctrl-C: it stops every child
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
        left = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        for p in left:  # a failed run must not leave a worker consuming the next test's messages
            p.kill()
        out.close()
    assert "stopped. Data is kept in" in output(), output()[-2000:]
    assert left == []  # esa up stopped all of its children itself


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _paid_order(db, web_port: int) -> int:
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow, OrderRequest(cust.id, f"k-{time.monotonic_ns()}", (OrderLine("TSEL10", "081234560000"),))
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
    r = httpx.post(f"http://127.0.0.1:{web_port}/ecpay/return", data=fields)
    assert r.text == "1|OK", r.text
    with Session(db) as s:
        assert s.exec(select(Payment.status).where(Payment.id == placed.payment_id)).one() == "PAID"
    return placed.payment_id
