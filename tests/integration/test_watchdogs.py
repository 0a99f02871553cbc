"""Watchdogs and alert handling on real PostgreSQL (LINE simulator over HTTP): missed jobs, failed catalog syncs,
an FX rate nearing its maximum age (alerted while quotes still work), re-sending and acknowledging alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from esa_domain.adapters.line.push import LinePusher
from esa_domain.adapters.suppliers.base import SupplierError
from esa_domain.catalog.sync import sync_supplier_catalog
from esa_domain.core.errors import StaleRate
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, AlertAck, JobRun, OperatorAction, OutboxMessage
from esa_domain.operations import alerts as alert_ops
from esa_domain.operations import watchdogs
from esa_domain.operations.alert_delivery import send_alert
from esa_domain.operations.operators import NotAllowed, create_operator
from esa_domain.ordering.orders import OrderLine, OrderPolicy, OrderRequest, place_order
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories

PUBLIC = "https://esa.example"
TOKEN = "test-channel-access-token"
OPERATORS = "Cgroup0000000000000000000000000001"
DAY = timedelta(days=1)
POLICY = watchdogs.WatchPolicy(
    jobs={watchdogs.RECONCILE: timedelta(minutes=10), watchdogs.OUTBOX_SWEEP: timedelta(minutes=1)},
    fx_max_age=DAY,
    fx_warn_before=timedelta(hours=2),
)


def _uow(db):
    return lambda: UnitOfWork(db)


def _alerts(db, condition: str) -> list[Alert]:
    with Session(db) as s:
        return list(s.exec(select(Alert).where(Alert.condition == condition).order_by(Alert.id)).all())


def test_a_job_silent_for_two_intervals_is_alerted_once_per_silence(db):
    now = datetime.now(UTC)
    # Given reconciliation (every 10 min) last started 19 minutes ago, and the outbox sweep ran through job_run
    factories.add(db, JobRun(kind="reconcile", started_at=now - timedelta(minutes=19), status="ok"))
    with watchdogs.job_run(_uow(db), watchdogs.OUTBOX_SWEEP) as summary:
        summary["resent"] = 0
    with Session(db) as s:
        sweep = s.exec(select(JobRun).where(JobRun.kind == watchdogs.OUTBOX_SWEEP)).one()
        assert sweep.status == "ok" and sweep.finished_at is not None and sweep.summary == {"resent": 0}
    # Then nothing is wrong yet
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC, now=now)[watchdogs.JOB_MISSED] == 0
    # When two intervals (and the grace minute) pass without a run
    later = now + timedelta(minutes=4)
    counts = watchdogs.watch(_uow(db), POLICY, PUBLIC, now=later)
    assert counts[watchdogs.JOB_MISSED] == 2  # reconciliation 23 min silent, the sweep 4 min
    # Then it is alerted once, however often (and from however many processes) the watchdogs look
    assert (
        watchdogs.watch(_uow(db), POLICY, PUBLIC, now=later + timedelta(minutes=5))[watchdogs.JOB_MISSED] == 0
    )
    titles = sorted(a.title for a in _alerts(db, watchdogs.JOB_MISSED))
    assert titles == ["Reconciliation has stopped running", "The outbox sweep has stopped running"]
    # When reconciliation runs again, then stops again: a new silence, a new alert
    factories.add(db, JobRun(kind="reconcile", started_at=later, status="ok"))
    assert (
        watchdogs.watch(_uow(db), POLICY, PUBLIC, now=later + timedelta(minutes=5))[watchdogs.JOB_MISSED] == 0
    )
    assert (
        watchdogs.watch(_uow(db), POLICY, PUBLIC, now=later + timedelta(minutes=30))[watchdogs.JOB_MISSED]
        == 1
    )  # the sweep's silence is the same one: not alerted again
    assert len(_alerts(db, watchdogs.JOB_MISSED)) == 3


def test_a_job_run_that_raises_is_recorded_failed(db):
    with pytest.raises(RuntimeError), watchdogs.job_run(_uow(db), watchdogs.DEPOSIT_POLL):
        raise RuntimeError("database went away")
    with Session(db) as s:
        run = s.exec(select(JobRun)).one()
    assert (run.kind, run.status, run.error) == ("deposit_poll", "failed", "RuntimeError: database went away")


class _BrokenCatalog:
    code = "iak"

    def fetch_catalog(self):
        raise SupplierError("IAK price list unreadable: HTTP 500")


def test_a_failed_catalog_sync_is_alerted_once(db):
    factories.catalog(db)
    result = sync_supplier_catalog(_uow(db), "iak", _BrokenCatalog(), public_url=PUBLIC)
    assert result["status"] == "failed"
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC)[watchdogs.JOB_FAILED] == 1
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC)[watchdogs.JOB_FAILED] == 0
    (alert,) = _alerts(db, watchdogs.JOB_FAILED)
    assert alert.title == "The catalog sync of iak failed"
    assert "IAK price list unreadable: HTTP 500" in alert.body


def test_the_fx_rate_nearing_its_maximum_age_is_alerted_while_quotes_still_work(db):
    rows = factories.catalog(db, rate_age=timedelta(hours=22, minutes=30))
    cust = factories.customer(db)
    now = datetime.now(UTC)
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC, now=now)["fx"] == 1
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC, now=now)["fx"] == 0
    (aging,) = _alerts(db, watchdogs.FX_AGING)
    assert "quotes are refused from" in aging.body and "(in 89 min)" in aging.body
    # the alert came while quotes still work
    with UnitOfWork(db) as uow:
        place_order(uow, OrderRequest(cust.id, "k1", (OrderLine("TSEL10", "081234567890"),)), now=now)
    # past the maximum age: quotes are refused, and that is alerted too (once)
    later = rows["fx"].fetched_at + DAY + timedelta(minutes=1)
    with pytest.raises(StaleRate), UnitOfWork(db) as uow:
        place_order(
            uow, OrderRequest(cust.id, "k2", (OrderLine("TSEL10", "081234567890"),)), now=later,
            policy=OrderPolicy(fx_max_age=DAY),
        )  # fmt: skip
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC, now=later)["fx"] == 1
    assert watchdogs.watch(_uow(db), POLICY, PUBLIC, now=later)["fx"] == 0
    assert len(_alerts(db, watchdogs.FX_EXPIRED)) == 1


@pytest.fixture
def line_url(run_asgi) -> str:
    return run_asgi(create_line_sandbox(LineSandboxConfig(channel_access_token=TOKEN)))


def test_a_failed_alert_is_resent_once_and_any_alert_acknowledged_with_audit(db, line_url):
    with UnitOfWork(db) as uow:
        operator = create_operator(uow.session, "ops1", "long-enough-password", role="operator")
        viewer = create_operator(uow.session, "view1", "long-enough-password", role="viewer")
        alert_id = alert_ops.raise_alert(
            uow.session, condition="job_failed", title="The FX refresh failed", body="HTTP 500", public_url=PUBLIC,
            dedupe_key="job_failed:1",
        )  # fmt: skip
        uow.commit()
    # Given the alert failed for good (LINE refused the token)
    assert send_alert(_uow(db), alert_id, LinePusher("wrong-token", base_url=line_url), OPERATORS) == "failed"
    # A viewer may not re-send it
    with pytest.raises(NotAllowed), UnitOfWork(db) as uow:
        alert_ops.resend_alert(uow.session, alert_id, viewer)
    # When an operator re-sends it, it is queued again with a SEND_ALERT message, and delivered once
    with UnitOfWork(db) as uow:
        alert_ops.resend_alert(uow.session, alert_id, operator)
        uow.commit()
    with Session(db) as s:
        assert s.get(Alert, alert_id).status == "queued"
        outbox_rows = s.exec(select(OutboxMessage).where(OutboxMessage.topic == "send_alert")).all()
        assert [r.payload for r in outbox_rows] == [{"alert_id": alert_id}] * 2
    assert send_alert(_uow(db), alert_id, LinePusher(TOKEN, base_url=line_url), OPERATORS) == "sent"
    assert len(httpx.get(line_url + "/_sandbox/messages").json()) == 1
    # A sent alert is not sent twice
    with pytest.raises(alert_ops.AlertNotResendable), UnitOfWork(db) as uow:
        alert_ops.resend_alert(uow.session, alert_id, operator)
    # Acknowledging: once, audited
    with UnitOfWork(db) as uow:
        assert alert_ops.acknowledge_alert(uow.session, alert_id, operator, "  looked at   it ") is True
        uow.commit()
    with UnitOfWork(db) as uow:
        assert alert_ops.acknowledge_alert(uow.session, alert_id, operator) is False
        uow.commit()
    with Session(db) as s:
        ack = s.exec(select(AlertAck)).one()
        assert (ack.alert_id, ack.operator_id, ack.note) == (alert_id, operator.id, "looked at it")
        actions = [a.action for a in s.exec(select(OperatorAction).order_by(OperatorAction.id)).all()]
    assert actions == ["resend_alert", "acknowledge_alert"]
    with pytest.raises(alert_ops.AlertNotFound), UnitOfWork(db) as uow:
        alert_ops.acknowledge_alert(uow.session, 999_999, operator)
