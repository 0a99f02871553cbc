"""Observability for real: an order placed over HTTP, paid by a signed ECPay notification, fulfilled by a real
dramatiq worker process; then the web app's and the worker's metrics are scraped, the request id is followed from
the API's log line into the worker's, every captured line is searched for the secrets, PINs and tokens the flow
used, and the heartbeats are read by the readiness checks."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from dramatiq.brokers.redis import RedisBroker
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, select

from esa_api.customer.config import CustomerApiConfig
from esa_domain.adapters.ecpay import check_mac_value
from esa_domain.infra import heartbeat
from esa_domain.infra.logging_setup import JsonLineFormatter
from esa_domain.infra.outbox import flush_marks
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.state_metrics import StateCollector
from esa_domain.models import OutboxMessage, Payment, PaymentItem
from sandbox.line import LineSandboxConfig
from tests.supplier_world import catalog, start_world
from tests.worker_process import WorkerProcess, wait_until
from workers.publisher import DramatiqPublisher

KEY, IV = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"  # ECPay's published stage HashKey / HashIV
TOKEN_SECRET = "observability-token-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: dict, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and want <= set(ls))


class Captured(logging.Handler):
    """The web app's log lines, formatted as production writes them (JSON)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonLineFormatter("web"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


@pytest.fixture
def web(db, world, redis_url, redis_client):
    """The API of the world, publishing to the real broker, signing customers in through the LINE sandbox."""
    from esa_domain.infra.settings import Settings

    app = next(
        s.config.app for s, _ in world.servers._running if getattr(s.config.app, "title", "") == "ESA API"
    )
    settings = world.settings.model_copy(update={"redis_url": redis_url})
    app.state.runtime = Runtime(settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    app.state.customer_config = CustomerApiConfig(
        token_secret=TOKEN_SECRET.encode(),
        line_channel_id=LineSandboxConfig().channel_id,
        line_login_base_url=world.line_url,
        line_login_page_url=f"{world.line_url}/_sandbox/login",
        cors_origins=(),
        public_url=world.api_url,
    )
    world.reset()
    catalog(db)
    assert isinstance(settings, Settings)
    yield app
    app.state.runtime = Runtime(world.settings, db, None)


@pytest.fixture
def captured():
    handler = Captured()
    root = logging.getLogger()
    esa = [logging.getLogger(n) for n in ("esa_api", "esa_domain")]
    old = [lg.level for lg in esa]
    for lg in esa:
        lg.setLevel(logging.INFO)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    for lg, level in zip(esa, old, strict=True):
        lg.setLevel(level)


def worker_env(world, database_url, redis_url, tmp_path: Path, port: int) -> dict[str, str]:
    folder = tmp_path / "worker-metrics"
    folder.mkdir()
    return {
        **world.env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_PUBLIC_URL": world.api_url,
        "SUPPLIER_READ_TIMEOUT_S": "10",
        "ESA_ENV": "test",
        "ESA_LOG_FORMAT": "json",
        "ESA_HEARTBEAT_SECONDS": "1",
        # what `esa up` / `esa worker` give a worker: a metrics folder, dramatiq's exposition server on a port
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "dramatiq_prom_db": str(folder),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(port),
    }


def sign_in(world) -> tuple[str, dict[str, str]]:
    id_token = httpx.post(
        f"{world.line_url}/_sandbox/id_tokens", json={"user_id": "U-obs", "name": "Budi"}
    ).json()["id_token"]
    r = httpx.post(f"{world.api_url}/api/v1/auth/line", json={"id_token": id_token})
    assert r.status_code == 200, r.text
    return id_token, {"Authorization": f"Bearer {r.json()['access_token']}"}


def pay(db, world, payment_id: int) -> tuple[httpx.Response, dict[str, str]]:
    with Session(db) as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        fields = {
            "MerchantID": "3002607",
            "MerchantTradeNo": payment.merchant_trade_no,
            "RtnCode": "1",
            "RtnMsg": "ok",
            "TradeNo": "T" + uuid.uuid4().hex[:12],
            "TradeAmt": str(payment.amount_twd),
            "PaymentType": "Credit_CreditCard",
            "SimulatePaid": "0",
            "CustomField1": str(payment.id),
        }
    fields["CheckMacValue"] = check_mac_value(fields, KEY, IV)
    r = httpx.post(f"{world.api_url}/ecpay/return", data=fields)
    assert r.text == "1|OK"
    return r, fields


def scrape(url: str) -> dict:
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200, r.text
    return samples(r.text)


def test_an_order_moves_the_counters_and_its_request_id_reaches_the_worker_with_no_secret_logged(
    db, world, web, captured, database_url, redis_url, redis_client, tmp_path
):
    port = free_port()
    log_path = tmp_path / "worker.log"
    before = scrape(f"{world.api_url}/metrics")
    id_token, auth = sign_in(world)
    create_rid = "obs-create-" + uuid.uuid4().hex[:12]
    created = httpx.post(
        f"{world.api_url}/api/v1/orders",
        json={"items": [{"product_code": "TSEL10", "target": "081234567890"}]},
        headers={**auth, "Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": create_rid},
    )
    assert created.status_code == 201, created.text
    with Session(db) as s:
        payment_id = s.exec(select(Payment.id)).one()
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == payment_id)).one()

    env = worker_env(world, database_url, redis_url, tmp_path, port)
    with WorkerProcess(env, log_path=log_path):
        paid, notice = pay(db, world, payment_id)
        pay_rid = paid.headers["X-Request-ID"]

        def done() -> bool:
            with Session(db) as s:
                return s.get(Payment, payment_id, populate_existing=True).status == "SUCCESS"

        assert wait_until(done, timeout=40), log_path.read_text()[-3000:]
        worker = {}
        # dramatiq counts a message when its actor returns, after the purchase it counted and after the invoice
        # and the customer's message the worker carries out at once: wait for both
        assert wait_until(
            lambda: (
                worker.update(scrape(f"http://127.0.0.1:{port}/metrics"))
                or (
                    total(worker, "esa_supplier_calls_total", operation="purchase") >= 1
                    and total(worker, "dramatiq_messages_total", actor_name="fulfill_item") >= 1
                )
            ),
            timeout=15,
        )
        # the worker beats while it runs; the scheduler does not run here
        beats = httpx.get(f"{world.api_url}/api/health/workers")
        assert beats.status_code == 503 and len(beats.json()["workers"]) == 1
    web_after = scrape(f"{world.api_url}/metrics")

    # web: the order's request and its notification are counted, by route template and verdict
    assert (
        value(web_after, "esa_ecpay_notifications_total", verdict="accepted")
        == value(before, "esa_ecpay_notifications_total", verdict="accepted") + 1
    )
    orders = dict(method="POST", route="/api/v1/orders", status="2xx")
    assert (
        value(web_after, "esa_http_requests_total", **orders)
        == value(before, "esa_http_requests_total", **orders) + 1
    )
    assert value(web_after, "esa_outbox_published_total", topic="fulfill_item", outcome="sent") >= 1
    # worker: one purchase at the cheapest supplier (PulsaIF), counted with its outcome; dramatiq's own counts
    assert total(worker, "esa_supplier_calls_total", supplier="pulsaif", operation="purchase") == 1
    assert (
        total(worker, "esa_supplier_call_duration_seconds_count", supplier="pulsaif", operation="purchase")
        == 1
    )
    assert total(worker, "dramatiq_messages_total", actor_name="fulfill_item") >= 1
    # the scheduler's figures, read from the database: this order's transitions
    flush_marks()  # the web app's sent marks, written in the background
    with Session(db) as s:
        unsent = [m for m in s.exec(select(OutboxMessage)).all() if m.dispatched_at is None]
    state = samples(_exposition(StateCollector(db, redis_client, ttl=0, history_lag_seconds=0)))
    assert (
        value(state, "esa_transitions_total", lifecycle="payment", from_status="PENDING", to_status="PAID")
        == 1
    )
    assert (
        value(state, "esa_transitions_total", lifecycle="item", from_status="PROCESSING", to_status="SUCCESS")
        == 1
    )
    waiting = [m for m in unsent if m.available_at is None or m.available_at <= datetime.now(UTC)]
    assert value(state, "esa_outbox_waiting") == len(waiting) and value(state, "esa_state_up") == 1
    assert value(state, "esa_outbox_parked") == len(unsent) - len(waiting)
    assert value(state, "esa_queue_messages", queue="fulfillment", state="dead") == 0

    # logs: the API's lines and the worker's, joined by the request id of the notification that paid the order
    web_lines = [json.loads(line) for line in captured.lines]
    assert any(
        e.get("request_id") == create_rid
        and e.get("payment_id") == payment_id
        and "/api/v1/orders -> 201" in e["message"]
        for e in web_lines
    ), captured.lines
    assert any(
        e.get("request_id") == pay_rid and e.get("payment_id") == payment_id and "accepted" in e["message"]
        for e in web_lines
    ), captured.lines
    worker_lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(
        e.get("request_id") == pay_rid
        and e.get("payment_id") == payment_id
        and e.get("item_id") == item_id
        and e.get("supplier") == "pulsaif"
        and e.get("process") == "worker"
        and "SUCCESS" in e["message"]
        for e in worker_lines
    ), log_path.read_text()[-3000:]

    # no secret, PIN, token or signature the flow used appears in any captured line
    everything = "\n".join(captured.lines) + log_path.read_text()
    secrets = {KEY, IV, TOKEN_SECRET, id_token, auth["Authorization"].split()[1], notice["CheckMacValue"]}
    secrets |= {
        v
        for k, v in world.env.items()
        if any(w in k for w in ("PIN", "PASSWORD", "SECRET", "KEY")) and len(v) >= 6
    }
    for txn in world.delivered():
        secrets |= {str(v) for k, v in txn.items() if k.lower() in ("pin", "voucher_code", "token") and v}
    leaked = sorted(s for s in secrets if s and s in everything)
    assert leaked == [], leaked


def _exposition(collector) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def test_readiness_reads_the_database_redis_migrations_and_the_heartbeats(db, world, web, redis_client):
    r = httpx.get(f"{world.api_url}/api/health/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "database": "ok", "migrations": "ok", "redis": "ok"}
    assert httpx.get(f"{world.api_url}/api/health/live").json() == {"status": "ok"}

    assert httpx.get(f"{world.api_url}/api/health/workers").status_code == 503  # nobody beats
    heartbeat.beat(redis_client, "worker", 5, pid=101)
    assert httpx.get(f"{world.api_url}/api/health/workers").status_code == 503  # no scheduler yet
    heartbeat.beat(redis_client, "scheduler", 5, pid=102)
    r = httpx.get(f"{world.api_url}/api/health/workers")
    assert r.status_code == 200, r.text
    assert [b["pid"] for b in r.json()["workers"]] == [101]

    # a database behind on its migrations is not ready
    with db.begin() as conn:
        (head,) = conn.exec_driver_sql("SELECT version_num FROM alembic_version").one()
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    try:
        r = httpx.get(f"{world.api_url}/api/health/ready")
        assert r.status_code == 503 and r.json()["migrations"].startswith("at 0001"), r.text
    finally:
        with db.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = %s", (head,))


def test_metrics_are_refused_through_a_proxy_and_without_the_token(db, world, web):
    assert httpx.get(f"{world.api_url}/metrics").status_code == 200  # a local scraper
    r = httpx.get(f"{world.api_url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 403 and "ESA_METRICS_TOKEN" in r.text
    rt = web.state.runtime
    web.state.runtime = Runtime(
        rt.settings.model_copy(update={"metrics_token": __import__("pydantic").SecretStr("s" * 32)}),
        rt.engine,
        rt.publisher,
    )
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    assert (
        httpx.get(
            f"{world.api_url}/metrics", headers={**proxied, "Authorization": "Bearer wrong"}
        ).status_code
        == 403
    )
    ok = httpx.get(f"{world.api_url}/metrics", headers={**proxied, "Authorization": f"Bearer {'s' * 32}"})
    assert ok.status_code == 200 and "esa_http_requests_total" in ok.text


def test_a_worker_killed_under_esa_up_is_restarted_with_a_message_and_finishes_the_order(
    db, world, web, database_url, redis_url, redis_client, tmp_path
):
    from esa_admin import cli
    from esa_admin.supervisor import Supervisor

    messages: list[str] = []
    supervisor = Supervisor(messages.append)
    env = worker_env(world, database_url, redis_url, tmp_path, free_port())
    for name in ("PROMETHEUS_MULTIPROC_DIR", "dramatiq_prom_db", "dramatiq_prom_host", "dramatiq_prom_port"):
        env.pop(name)
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115
    try:
        first = supervisor.add("worker", cli._child(cli._worker_cmd(1, 2), cli._venv_env(env), log))
        assert wait_until(lambda: any(b["pid"] != 0 for b in heartbeat.alive(redis_client, "worker")), 30)
        _, auth = sign_in(world)
        created = httpx.post(
            f"{world.api_url}/api/v1/orders",
            json={"items": [{"product_code": "TSEL10", "target": "081234567890"}]},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert created.status_code == 201, created.text
        with Session(db) as s:
            payment_id = s.exec(select(Payment.id)).one()

        os.killpg(first.pid, signal.SIGKILL)  # the worker and its forks, as an OOM kill would
        first.wait(timeout=10)
        pay(db, world, payment_id)  # paid while no worker runs: the message waits in the queue
        assert wait_until(lambda: bool(supervisor.check()), 20)
        assert messages[0] == "worker stopped unexpectedly (killed by SIGKILL); restarting it in 1 s", (
            messages
        )
        assert messages[1].startswith("worker restarted (restart 1, pid "), messages
        assert supervisor.children[0].proc.pid != first.pid

        def done() -> bool:
            with Session(db) as s:
                return s.get(Payment, payment_id, populate_existing=True).status == "SUCCESS"

        assert wait_until(done, timeout=40), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        supervisor.stop_all(timeout=10)
        log.close()
    assert supervisor.children[0].proc.poll() is not None


def test_the_scheduler_serves_the_system_figures_beats_and_logs_json(
    db, world, web, database_url, redis_url, redis_client, tmp_path
):
    import subprocess
    import sys

    with db.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE suppliers SET circuit_open_until = now() + interval '5 minutes' WHERE code = 'iak'"
        )
        conn.exec_driver_sql(
            "UPDATE supplier_offers SET circuit_open_until = now() + interval '5 minutes' "
            "WHERE supplier_id = (SELECT id FROM suppliers WHERE code = 'lapakgaming')"
        )
        conn.exec_driver_sql(
            "INSERT INTO supplier_balances (supplier_id, balance_idr, source, observed_at) "
            "SELECT id, 1250000, 'poll', now() FROM suppliers WHERE code = 'pulsaif'"
        )
        conn.exec_driver_sql(
            "INSERT INTO job_runs (kind, started_at, finished_at, status, summary) VALUES "
            "('reconcile', now(), now(), 'ok', '{\"payments_healed\": 2, \"items_redispatched\": 1}')"
        )
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_ENV": "test",
        "ESA_LOG_FORMAT": "json",
        "ESA_HEARTBEAT_SECONDS": "1",
        "ESA_SCHEDULER_METRICS_PORT": str(port),
    }
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.scheduler"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        found: dict = {}

        def scraped() -> bool:
            try:
                found.update(scrape(f"http://127.0.0.1:{port}/metrics"))
            except httpx.HTTPError:
                return False
            return total(found, "esa_scheduler_ticks_total") >= 1

        assert wait_until(scraped, timeout=30), log_path.read_text()[-3000:]
        assert value(found, "esa_state_up") == 1
        assert value(found, "esa_supplier_circuit_open", supplier="iak") == 1
        assert value(found, "esa_supplier_circuit_open", supplier="pulsaif") == 0
        assert value(found, "esa_offer_circuits_open", supplier="lapakgaming") == 1
        assert value(found, "esa_supplier_deposit_idr", supplier="pulsaif") == 1250000
        assert value(found, "esa_reconciliation_results_total", result="payments_healed") == 2
        assert value(found, "esa_reconciliation_runs_total", status="ok") == 1
        assert 0 <= value(found, "esa_fx_rate_age_seconds") < 600
        assert ("esa_queue_messages", (("queue", "fulfillment"), ("state", "ready"))) in found
        assert wait_until(
            lambda: [b["pid"] for b in heartbeat.alive(redis_client, "scheduler")] == [proc.pid], 10
        )
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        assert lines and all(e["process"] == "scheduler" for e in lines)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_metric_labels_hold_route_templates_never_what_a_path_carries(db, world, web):
    _, auth = sign_in(world)
    assert httpx.get(f"{world.api_url}/api/v1/orders/987654321", headers=auth).status_code == 404
    assert httpx.get(f"{world.api_url}/no/such/page/081299998888").status_code == 404
    text = httpx.get(f"{world.api_url}/metrics").text
    found = samples(text)
    assert (
        value(found, "esa_http_requests_total", method="GET", route="/api/v1/orders/{order_id}", status="4xx")
        >= 1
    )
    assert value(found, "esa_http_requests_total", method="GET", route="unmatched", status="4xx") >= 1
    assert "987654321" not in text and "081299998888" not in text


def test_the_worker_counts_ecpay_checks_and_alert_deliveries_by_outcome(
    db, world, web, database_url, redis_url, redis_client, tmp_path
):
    import dramatiq

    from esa_domain.infra.db import UnitOfWork
    from esa_domain.models import Alert
    from esa_domain.operations.alerts import raise_alert
    from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
    from tests import factories
    from workers.publisher import make_broker

    port = free_port()
    rt = web.state.runtime
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, "k-obs", (OrderLine("TSEL10", "081234560000"),)))
    with rt.uow() as uow:  # committed through the broker, as the reconciler's alerts are
        alert_id = raise_alert(
            uow.session, condition="obs_test", title="t", body="b", public_url=world.api_url, dedupe_key="obs"
        )
        uow.commit()
    make_broker(redis_url).enqueue(
        dramatiq.Message(
            queue_name="reconciliation",
            actor_name="check_payment",
            args=(),
            kwargs={"payment_id": placed.payment_id},
            options={},
        )
    )
    log_path = tmp_path / "worker.log"
    with WorkerProcess(worker_env(world, database_url, redis_url, tmp_path, port), log_path=log_path):
        found: dict = {}

        def counted() -> bool:
            try:
                found.update(scrape(f"http://127.0.0.1:{port}/metrics"))
            except (httpx.HTTPError, AssertionError):
                return False
            return (
                total(found, "esa_ecpay_queries_total") >= 1
                and total(found, "esa_alert_deliveries_total") >= 1
            )

        assert wait_until(counted, timeout=40), log_path.read_text()[-3000:]
    with Session(db) as s:
        status = s.get(Alert, alert_id).status
    assert status == "sent"
    assert value(found, "esa_alert_deliveries_total", outcome="sent") == 1
    assert total(found, "esa_ecpay_queries_total") == 1
