"""The watchdogs from a surviving process: with no scheduler running, a real dramatiq worker process notices that
reconciliation stopped and raises the alert (once)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from esa_domain.models import Alert, JobRun
from esa_domain.operations import watchdogs
from tests import factories
from tests.worker_process import WorkerProcess, wait_until


def _missed(db) -> list[Alert]:
    with Session(db) as s:
        return list(s.exec(select(Alert).where(Alert.condition == watchdogs.JOB_MISSED)).all())


def test_a_worker_alone_alerts_that_the_scheduled_jobs_stopped(
    db, database_url, redis_url, redis_client, tmp_path
):
    # Given reconciliation last ran an hour ago and no scheduler is running
    factories.add(
        db, JobRun(kind="reconcile", started_at=datetime.now(UTC) - timedelta(hours=1), status="ok")
    )
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_ENV": "test",
        "ESA_PUBLIC_URL": "http://127.0.0.1:9",
        "ESA_WATCHDOG_EVERY_SECONDS": "1",
    }
    log = tmp_path / "worker.log"
    # When a worker process runs (it is sent no message at all)
    with WorkerProcess(env, log_path=log):
        seen = wait_until(lambda: len(_missed(db)) >= 1, timeout=60)
        assert seen, Path(log).read_text()[-3000:]
        time.sleep(3)  # a few more turns of its timer: none raises it again
    # Then it raised the alert, once, naming the job
    (alert,) = _missed(db)
    assert alert.title == "Reconciliation has stopped running"
    assert re.search(r"runs every 10 min and last started 6\d min ago", alert.body), alert.body
